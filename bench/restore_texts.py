"""Put the recorded vector texts of issue 13 back on a rebuilt Food-Kitchen store, and check them.

The store of 450d2c0 (2026-12-02), on which every current semantic run in bench/results/food-kitchen.json was trained,
encoded four food items from descriptions that an earlier, interrupted labelling run had written.
A store rebuilt with the same commands has every other label and text (the digests say so); this
re-encodes those four items from bench/results/food-kitchen-texts.json, in the batches a fresh
`semacdr embed` forms (item order, `EmbedConfig.batch_size`, one thread), and then compares each
domain's labels and texts digests with the results file. It exits 1 when any differs.

    python bench/restore_texts.py --store fk.db
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paper_table_inputs import semantic_inputs

from semacdr_cli.config import EmbedConfig
from semacdr_cli.embed import embedding_text, load_encoder, resolve_embed_model, source_text, text_hash
from semacdr_cli.store import Store
from semacdr_cli.store import embeddings as emb
from semacdr_cli.store import semantic as sem

RESULTS = Path(__file__).resolve().parent / "results"


def restore(store_path: str, texts: dict) -> int:
    """Re-encode the batches that hold the listed items, those items from the kept descriptions."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    cfg = EmbedConfig(domain=texts["domain"])
    name, folder = resolve_embed_model(cfg.model)
    with Store(store_path, create=False) as store:
        domain = store.domain(store.dataset()["id"], cfg.domain)
        sources = emb.embedding_sources(store, domain["id"])
        external = {
            r["id"]: r["external_id"] for r in sem.items_by_ids(store, [s["item_id"] for s in sources])
        }
        kept = texts["descriptions"]
        missing = sorted(set(kept) - set(external.values()))
        if missing:
            raise SystemExit(f"{store_path}: no {cfg.domain} items {', '.join(missing)}")
        described = emb.annotation_descriptions(store, (s["annotation_id"] for s in sources))
        rows = []
        for s in sources:
            text, ann = source_text(s, described)
            if external[s["item_id"]] in kept:  # the description the store of 450d2c0 encoded
                text, ann = embedding_text(s["title"], kept[external[s["item_id"]]]), None
            rows.append((s["item_id"], text, ann))
        bs = cfg.batch_size
        batches = [rows[i : i + bs] for i in range(0, len(rows), bs)]
        touched = [b for b in batches if any(external[item] in kept for item, _, _ in b)]
        encoder = load_encoder(folder, cfg.device)
        for batch in touched:
            vecs = encoder.encode([t for _, t, _ in batch], batch_size=bs, convert_to_numpy=True,
                                  normalize_embeddings=cfg.normalize, show_progress_bar=False)  # fmt: skip
            vecs = np.asarray(vecs, dtype="<f4")
            with store.transaction() as conn:
                emb.write_embeddings(conn, name, [(item, vecs[n].tobytes(), vecs.shape[1], text_hash(name, text), ann)
                                                  for n, (item, text, ann) in enumerate(batch)])  # fmt: skip
    return sum(len(b) for b in touched)


def compare(store_path: str, recorded: dict) -> list[str]:
    """One line per digest that differs from the results file's."""
    now = semantic_inputs(store_path)
    bad = []
    for d, want in recorded["domains"].items():
        got = now["domains"].get(d, {})
        bad += [f"{d} {k}: {got.get(k)} (recorded {want[k]})" for k in ("labels_digest", "texts_digest")
                if got.get(k) != want.get(k)]  # fmt: skip
    if now["taxonomy"] != recorded["taxonomy"]:
        bad.append("taxonomy differs")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--texts", default=str(RESULTS / "food-kitchen-texts.json"))
    ap.add_argument("--results", default=str(RESULTS / "food-kitchen.json"))
    args = ap.parse_args()
    encoded = restore(args.store, json.loads(Path(args.texts).read_text()))
    bad = compare(args.store, json.loads(Path(args.results).read_text())["semantics"])
    print(
        f"re-encoded {encoded} items; "
        + ("every digest matches the results file" if not bad else "; ".join(bad))
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
