"""Reads for `semacdr report`: dataset statistics, the taxonomy tree, runs and labels per item.

Plain functions over a `Store`, returning plain dicts and lists (no sqlite rows escape), so the
report and the plots never see SQL. Labels are read through ``annotation_labels`` (the validated
subcategory ids), never from the free-text JSON of an annotation.
"""

from __future__ import annotations

from collections import defaultdict

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store.core import Store
from semacdr_cli.store.training import decode_run


def dataset_by_id(store: Store, dataset_id: int) -> dict:
    row = store.one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
    if row is None:
        raise SemacdrError(f"no dataset with id {dataset_id} in the store", path=str(store.path))
    return dict(row)


def domain_names(store: Store, dataset_id: int) -> list[str]:
    """Domain names in import order (position 0 first)."""
    return [r["name"] for r in store.domains(dataset_id)]


def taxonomy_for(store: Store, dataset_id: int, taxonomy_id: int | None = None) -> dict | None:
    """The taxonomy ``taxonomy_id``, or the newest version of the dataset; None when there is none."""
    if taxonomy_id is not None:
        row = store.one("SELECT * FROM taxonomies WHERE id = ?", (taxonomy_id,))
    else:
        row = store.one(
            "SELECT * FROM taxonomies WHERE dataset_id = ? ORDER BY version DESC LIMIT 1", (dataset_id,)
        )
    if row is None:
        return None
    tax = dict(row)
    cats = store.query(
        "SELECT id, name, description FROM taxonomy_categories WHERE taxonomy_id = ? ORDER BY position, id",
        (tax["id"],),
    )
    subs = store.query(
        "SELECT s.category_id, s.name FROM taxonomy_subcategories s "
        "JOIN taxonomy_categories c ON c.id = s.category_id WHERE c.taxonomy_id = ? "
        "ORDER BY s.position, s.id",
        (tax["id"],),
    )
    by_cat: dict[int, list[str]] = defaultdict(list)
    for s in subs:
        by_cat[s["category_id"]].append(s["name"])
    tax["categories"] = [
        {"name": c["name"], "description": c["description"], "subcategories": by_cat[c["id"]]} for c in cats
    ]
    return tax


def subcategory_coverage(store: Store, taxonomy_id: int) -> list[dict]:
    """Items per (domain, category, subcategory), counting ok annotations of this taxonomy.
    Every subcategory of the taxonomy appears for every domain that has annotations (count 0 kept)."""
    rows = store.query(
        "SELECT d.name AS domain, c.name AS category, s.name AS subcategory, "
        "count(DISTINCT a.item_id) AS items "
        "FROM annotation_labels l "
        "JOIN annotations a ON a.id = l.annotation_id "
        "JOIN taxonomy_subcategories s ON s.id = l.subcategory_id "
        "JOIN taxonomy_categories c ON c.id = s.category_id "
        "JOIN items i ON i.id = a.item_id JOIN domains d ON d.id = i.domain_id "
        "WHERE a.taxonomy_id = ? AND a.status = 'ok' "
        "GROUP BY d.id, s.id",
        (taxonomy_id,),
    )
    return [dict(r) for r in rows]


def annotated_items_per_domain(store: Store, taxonomy_id: int) -> dict[str, int]:
    rows = store.query(
        "SELECT d.name AS domain, count(*) AS n FROM annotations a "
        "JOIN items i ON i.id = a.item_id JOIN domains d ON d.id = i.domain_id "
        "WHERE a.taxonomy_id = ? AND a.status = 'ok' GROUP BY d.id",
        (taxonomy_id,),
    )
    return {r["domain"]: r["n"] for r in rows}


def find_user(store: Store, dataset_id: int, ref: str) -> dict:
    """A user by external id, or by store id when ``ref`` is digits and no external id matches."""
    row = store.one("SELECT * FROM users WHERE dataset_id = ? AND external_id = ?", (dataset_id, ref))
    if row is None and ref.isdigit():
        row = store.one("SELECT * FROM users WHERE dataset_id = ? AND id = ?", (dataset_id, int(ref)))
    if row is None:
        raise SemacdrError(f"--user: no user with external id or store id {ref!r} in this dataset")
    return dict(row)


def best_annotated_user(store: Store, dataset_id: int, taxonomy_id: int) -> dict | None:
    """The user whose interacted items are annotated most in *both* domains: the largest smaller
    per-domain count of distinct annotated items, then the largest total, then the lowest id."""
    n_domains = len(store.domains(dataset_id))
    row = store.one(
        "SELECT user_id, min(n) AS least, sum(n) AS total FROM ("
        "  SELECT x.user_id, x.domain_id, count(DISTINCT x.item_id) AS n FROM interactions x "
        "  JOIN users u ON u.id = x.user_id "
        "  JOIN annotations a ON a.item_id = x.item_id AND a.taxonomy_id = ? AND a.status = 'ok' "
        "  WHERE u.dataset_id = ? GROUP BY x.user_id, x.domain_id"
        ") GROUP BY user_id HAVING count(*) = ? ORDER BY least DESC, total DESC, user_id LIMIT 1",
        (taxonomy_id, dataset_id, n_domains),
    )
    if row is None:
        return None
    return dict(store.one("SELECT * FROM users WHERE id = ?", (row["user_id"],)))


def user_label_counts(store: Store, user_id: int, taxonomy_id: int) -> dict[str, dict]:
    """For each domain, how many distinct interacted items of the user carry each category and
    each subcategory: ``{domain: {"items": n, "categories": {c: n}, "subcategories": {(c, s): n}}}``."""
    rows = store.query(
        "SELECT d.name AS domain, x.item_id AS item, c.name AS category, s.name AS subcategory "
        "FROM (SELECT DISTINCT user_id, item_id, domain_id FROM interactions WHERE user_id = ?) x "
        "JOIN domains d ON d.id = x.domain_id "
        "JOIN annotations a ON a.item_id = x.item_id AND a.taxonomy_id = ? AND a.status = 'ok' "
        "JOIN annotation_labels l ON l.annotation_id = a.id "
        "JOIN taxonomy_subcategories s ON s.id = l.subcategory_id "
        "JOIN taxonomy_categories c ON c.id = s.category_id "
        "ORDER BY d.position",
        (user_id, taxonomy_id),
    )
    out: dict[str, dict] = {}
    cat_items: dict[tuple[str, str], set] = defaultdict(set)
    sub_items: dict[tuple[str, str, str], set] = defaultdict(set)
    items: dict[str, set] = defaultdict(set)
    for r in rows:
        items[r["domain"]].add(r["item"])
        cat_items[(r["domain"], r["category"])].add(r["item"])
        sub_items[(r["domain"], r["category"], r["subcategory"])].add(r["item"])
    for dom, its in items.items():
        out[dom] = {"items": len(its), "categories": {}, "subcategories": {}}
    for (dom, cat), its in cat_items.items():
        out[dom]["categories"][cat] = len(its)
    for (dom, cat, sub), its in sub_items.items():
        out[dom]["subcategories"][(cat, sub)] = len(its)
    return out


def runs_by_ids(store: Store, run_ids: list[int]) -> list[dict]:
    """The runs in the order asked; JSON columns decoded (undecodable JSON becomes None)."""
    out = []
    for rid in run_ids:
        row = store.one(
            "SELECT r.*, d.name AS dataset FROM runs r JOIN datasets d ON d.id = r.dataset_id WHERE r.id = ?",
            (rid,),
        )
        if row is None:
            raise SemacdrError(f"RUN: no run with id {rid} in the store", path=str(store.path))
        out.append(decode_run(row))
    return out


def run_by_dir(store: Store, run_dir: str) -> int | None:
    row = store.one("SELECT id FROM runs WHERE run_dir = ? ORDER BY id DESC LIMIT 1", (run_dir,))
    return row["id"] if row else None


def latest_run_id(store: Store) -> int | None:
    row = store.one("SELECT id FROM runs ORDER BY id DESC LIMIT 1")
    return row["id"] if row else None
