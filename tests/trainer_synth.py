"""A small synthetic two-domain store with learnable structure, for the trainer tests.

Users belong to one of ``groups`` taste groups. Each domain's items are split into the same groups;
a user walks through their group's items in order (item k -> k+1) in both domains, interleaved, so
both the target sequence and the source domain predict the next target item. Every item carries
taxonomy labels and an embedding vector that reveal its group (so semantics can help).
"""

from __future__ import annotations

import numpy as np

from semacdr_cli.store import Store, now


def build_store(
    path,
    *,
    users: int = 240,
    groups: int = 4,
    target_items: int = 48,
    source_items: int = 64,
    target_len: int = 7,
    source_len: int = 6,
    seed: int = 0,
    semantics: bool = True,
    dim: int = 16,
) -> str:
    rng = np.random.default_rng(seed)
    s = Store(path)
    with s.transaction() as c:
        ds = c.execute(
            "INSERT INTO datasets (name, format, synthetic, created_at) VALUES ('synth', 'demo', 1, ?)",
            (now(),),
        ).lastrowid
        dom = {}
        for pos, name in enumerate(("food", "kitchen")):
            dom[name] = c.execute(
                "INSERT INTO domains (dataset_id, name, position) VALUES (?, ?, ?)", (ds, name, pos)
            ).lastrowid
        items = {}
        for name, n in (("food", target_items), ("kitchen", source_items)):
            ids = []
            for k in range(n):
                ids.append(
                    c.execute(
                        "INSERT INTO items (domain_id, external_id, title) VALUES (?, ?, ?)",
                        (dom[name], f"{name}-{k}", f"{name} item {k} of group {k % groups}"),
                    ).lastrowid
                )
            items[name] = ids
        for u in range(users):
            uid = c.execute(
                "INSERT INTO users (dataset_id, external_id) VALUES (?, ?)", (ds, f"u{u}")
            ).lastrowid
            g = u % groups
            seqs = {}
            for name, length in (("food", target_len), ("kitchen", source_len)):
                members = [k for k in range(len(items[name])) if k % groups == g]
                start = int(rng.integers(len(members)))
                seqs[name] = [items[name][members[(start + j) % len(members)]] for j in range(length)]
            # interleave at random, keeping each domain's order
            order = ["food"] * target_len + ["kitchen"] * source_len
            rng.shuffle(order)
            pos_in = {"food": 0, "kitchen": 0}
            rows = []
            for p, name in enumerate(order):
                rows.append((uid, seqs[name][pos_in[name]], dom[name], p))
                pos_in[name] += 1
            for name in ("food", "kitchen"):
                mine = [r for r in rows if r[2] == dom[name]]
                split = {r[3]: "train" for r in mine}
                if len(mine) >= 3:
                    split[mine[-2][3]] = "valid"
                if len(mine) >= 2:
                    split[mine[-1][3]] = "test"
                for r in mine:
                    c.execute(
                        "INSERT INTO interactions (user_id, item_id, domain_id, position, split) VALUES (?,?,?,?,?)",
                        (*r, split[r[3]]),
                    )
        if semantics:
            add_semantics(c, ds, items, groups, dim, rng)
    s.close()
    return str(path)


def add_semantics(c, ds, items, groups, dim, rng) -> None:
    tax = c.execute(
        "INSERT INTO taxonomies (dataset_id, version, origin, created_at) VALUES (?, 1, 'induced', ?)",
        (ds, now()),
    ).lastrowid
    subs = []
    for pos, cat in enumerate(("Style", "Audience")):
        cid = c.execute(
            "INSERT INTO taxonomy_categories (taxonomy_id, position, name) VALUES (?, ?, ?)", (tax, pos, cat)
        ).lastrowid
        subs.append(
            [
                c.execute(
                    "INSERT INTO taxonomy_subcategories (category_id, position, name) VALUES (?, ?, ?)",
                    (cid, k, f"{cat}{k}"),
                ).lastrowid
                for k in range(groups)
            ]
        )
    centers = rng.normal(size=(groups, dim)).astype(np.float32)
    for ids in items.values():
        for k, item in enumerate(ids):
            g = k % groups
            ann = c.execute(
                "INSERT INTO annotations (item_id, taxonomy_id, status, labels, model, backend, prompt_hash, "
                "schema_hash, created_at) VALUES (?, ?, 'ok', '{}', 'synthetic', 'test', 'p', 's', ?)",
                (item, tax, now()),
            ).lastrowid
            for cat_subs in subs:
                c.execute(
                    "INSERT INTO annotation_labels (annotation_id, subcategory_id) VALUES (?, ?)",
                    (ann, cat_subs[g]),
                )
            vec = (centers[g] + 0.3 * rng.normal(size=dim)).astype("<f4")
            c.execute(
                "INSERT INTO embeddings (item_id, model, dim, vector, text_hash, created_at) VALUES (?,?,?,?,?,?)",
                (item, "synthetic-encoder", dim, vec.tobytes(), "h", now()),
            )
