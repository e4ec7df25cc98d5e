"""Import a data set: a reader's records -> the App. B preprocessing -> one store transaction.

`import_dataset` is the library entry point (the CLI, the demo and tests call it). Everything is
read and checked before the store is touched; the write is a single transaction, so bad input or
an interruption leaves the store exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from semacdr_cli import __version__
from semacdr_cli.datasets import FORMATS
from semacdr_cli.datasets.records import Progress, Source
from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import Store
from semacdr_cli.store import interactions as q

RAW_FORMATS = ("amazon", "csv")  # the paper's filters are on by default for these


@dataclass
class ImportResult:
    dataset_id: int
    name: str
    format: str
    domains: list[str]
    params: dict
    counts: dict = field(default_factory=dict)  # after preprocessing: users, items, interactions
    seconds: float = 0.0
    replaced: bool = False


def open_source(
    fmt: str, paths: list[str | Path], domains: list[str] | None, overlapped_only: bool = True
) -> Source:
    """The reader of ``fmt`` over ``paths`` (a folder, or for amazon reviews/meta pairs)."""
    if fmt not in FORMATS:
        raise SemacdrError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    import importlib

    return importlib.import_module(FORMATS[fmt]).open_source(list(paths), domains, overlapped_only)


def _nullable(values, dtype) -> list:
    """A float column as a list of Python numbers, NaN as None (SQL NULL)."""
    import numpy as np

    missing = np.isnan(values)
    if not missing.any():
        return values.astype(dtype).tolist()
    out = np.where(missing, 0, values).astype(dtype).astype(object)
    out[missing] = None
    return out.tolist()


def resolve_flags(
    fmt: str,
    filter: bool | None,
    min_item: int | None,
    min_user: int | None,
    dedupe: bool,
    overlapped_only: bool,
):
    from semacdr_cli.datasets.preprocess import Flags

    on = (fmt in RAW_FORMATS) if filter is None else filter
    return Flags(
        dedupe=dedupe,
        min_item=min_item if min_item is not None else (10 if on else 0),
        min_user=min_user if min_user is not None else (3 if on else 0),
        overlapped_only=overlapped_only,
    )


def import_dataset(  # noqa: C901  (one job with many flags; listed for splitting in #12)
    store: Store,
    fmt: str,
    paths: list[str | Path] | str | Path,
    *,
    domains: list[str] | None = None,
    name: str | None = None,
    replace: bool = False,
    filter: bool | None = None,
    min_item: int | None = None,
    min_user: int | None = None,
    dedupe: bool = True,
    overlapped_only: bool = True,
    synthetic: bool = False,
    record_format: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read, preprocess and store one data set; return what was done.

    ``filter`` switches the paper's item/user thresholds (10 / 3 per domain) on or off; None means
    the format's default (on for amazon and csv, off for llmcdsr and c2dsr). An explicit
    ``min_item`` / ``min_user`` wins over it. ``overlapped_only=False`` keeps single-domain users
    (for llmcdsr it also reads ``train_A``/``train_B``).
    """
    import numpy as np

    from semacdr_cli.datasets import preprocess as pp

    t0 = time.perf_counter()
    if isinstance(paths, str | Path):
        paths = [paths]
    flags = resolve_flags(fmt, filter, min_item, min_user, dedupe, overlapped_only)
    if name is not None and not name.strip():
        raise SemacdrError("--name: the dataset name is empty")
    if name is not None and q.find_dataset(store.conn, name) is not None and not replace:
        raise SemacdrError(
            f"--name: a dataset named {name!r} exists; add --replace to overwrite it", path=str(store.path)
        )
    source = open_source(fmt, list(paths), domains, overlapped_only)
    name = name or source.default_name
    if q.find_dataset(store.conn, name) is not None and not replace:
        raise SemacdrError(
            f"--name: a dataset named {name!r} exists; add --replace to overwrite it", path=str(store.path)
        )

    # 1. stream the interactions into columns, interning user and item ids
    dom_index = {d: k for k, d in enumerate(source.domains)}
    users: dict[str, int] = {}
    item_maps: list[dict[str, int]] = [{} for _ in source.domains]
    item_keys: list[tuple[int, str]] = []
    col_u, col_i, col_d = array("q"), array("q"), array("b")
    col_t, col_r = array("d"), array("f")
    nan = math.nan
    users_get, add_u, add_i, add_d, add_t, add_r = (
        users.get,
        col_u.append,
        col_i.append,
        col_d.append,
        col_t.append,
        col_r.append,
    )
    last_dom, k, imap = None, -1, {}
    for user, dom, item, ts, rating in source.interactions(progress):  # InteractionRecord fields
        if dom != last_dom:
            last_dom, k = dom, dom_index[dom]
            imap = item_maps[k]
        uid = users_get(user)
        if uid is None:
            uid = users[user] = len(users)
        iid = imap.get(item)
        if iid is None:
            iid = imap[item] = len(item_keys)
            item_keys.append((k, item))
        add_u(uid)
        add_i(iid)
        add_d(k)
        add_t(nan if ts is None else ts)
        add_r(nan if rating is None else rating)
    n = len(col_u)
    if n == 0:
        raise SemacdrError("no interactions found", path=source.source)
    table = pp.Table(
        np.frombuffer(col_u, dtype=np.int64),
        np.frombuffer(col_d, dtype=np.int8).astype(np.int64),
        np.frombuffer(col_i, dtype=np.int64),
        np.frombuffer(col_t, dtype=np.float64),
        np.arange(n, dtype=np.int64),
        np.frombuffer(col_r, dtype=np.float32),
    )
    del col_u, col_i, col_d, col_t, col_r

    # 2. preprocessing (App. B)
    report = pp.Report(before=table.counts())
    if flags.dedupe:
        table = pp.dedupe(table, report)
    table = pp.filter_to_fixed_point(table, flags, len(source.domains), report)

    # 3. item rows of the surviving items (raw dumps: drop items without metadata, filter again)
    def wanted_of(t):
        wanted: dict[str, set[str]] = {d: set() for d in source.domains}
        for iid in np.unique(t.item).tolist():
            k, ext = item_keys[iid]
            wanted[source.domains[k]].add(ext)
        return wanted

    found: dict[tuple[int, str], object] = {}
    for rec in source.items(wanted_of(table), progress):
        found[(dom_index[rec.domain], rec.external_id)] = rec
    if not source.strict_items:
        missing = np.ones(len(item_keys), dtype=bool)
        for key in found:
            missing[item_maps[key[0]][key[1]]] = False
        table = pp.drop_items(table, missing, report, "items without metadata")
        table = pp.filter_to_fixed_point(table, flags, len(source.domains), report)
    if len(table) == 0:
        raise SemacdrError(
            "no interactions are left after preprocessing; loosen the filters "
            "(--min-item-interactions, --min-user-interactions, --all-users or --no-filter)",
            path=source.source,
        )

    # 4. leave-one-out split
    table, position, code = pp.split(table)
    report.after = table.counts()
    params = {
        "format": fmt,
        "flags": flags.as_dict(),
        "preprocessing": report.as_dict(),
        "split_rule": pp.SPLIT_RULE,
        "short_sequences": pp.short_sequences(table, code, source.domains),
        "source": source.source,
        "semacdr_version": __version__,
        **source.notes,
    }

    # 5. one transaction
    uniq_users, user_rank = np.unique(table.user, return_inverse=True)
    uniq_items, item_rank = np.unique(table.item, return_inverse=True)
    user_names = list(users)  # index -> external id (dict keeps insertion order)
    # a fresh name needs no cascade, so the bulk load can skip the per-row foreign-key checks
    # (every reference points at a row inserted just before, in the same transaction)
    unchecked = q.foreign_keys_unchecked(store) if not replace else contextlib.nullcontext()
    with unchecked, store.transaction() as conn:
        old = q.find_dataset(conn, name)
        if old is not None:
            if not replace:
                raise SemacdrError(
                    f"--name: a dataset named {name!r} exists; add --replace", path=str(store.path)
                )
            q.delete_dataset(conn, old)
        dataset_id = q.insert_dataset(conn, name, record_format or fmt, source.source, synthetic, params)
        domain_ids = q.insert_domains(conn, dataset_id, source.domains)
        item_base = q.next_id(conn, "items")
        user_base = q.next_id(conn, "users")
        inter_base = q.next_id(conn, "interactions")

        def item_rows():
            for rank, iid in enumerate(uniq_items.tolist()):
                k, ext = item_keys[iid]
                rec = found[(k, ext)]
                yield (
                    item_base + rank,
                    domain_ids[k],
                    ext,
                    rec.title,
                    rec.description,
                    json.dumps(rec.categories, ensure_ascii=False) if rec.categories else None,
                    rec.brand,
                    json.dumps(rec.raw, ensure_ascii=False, default=str) if rec.raw is not None else None,
                )

        q.insert_items(conn, item_rows())
        q.insert_users(
            conn, ((user_base + r, dataset_id, user_names[u]) for r, u in enumerate(uniq_users.tolist()))
        )
        dom_col = np.asarray(domain_ids, dtype=np.int64)[table.domain]
        user_col = user_rank + user_base
        item_col = item_rank + item_base
        split_col = np.asarray(pp.SPLIT_NAMES, dtype=object)[code]

        def interaction_rows(chunk: int = 100_000):
            # converted to Python objects a chunk at a time, so memory stays flat
            for a in range(0, len(table), chunk):
                b = min(a + chunk, len(table))
                yield from zip(
                    range(inter_base + a, inter_base + b),
                    user_col[a:b].tolist(),
                    item_col[a:b].tolist(),
                    dom_col[a:b].tolist(),
                    position[a:b].tolist(),
                    _nullable(np.floor(table.ts[a:b]), np.int64),
                    _nullable(table.rating[a:b], np.float64),
                    split_col[a:b].tolist(),
                    strict=True,
                )

        q.insert_interactions(conn, interaction_rows(), n_rows=len(table))
    return ImportResult(
        dataset_id=dataset_id,
        name=name,
        format=record_format or fmt,
        domains=list(source.domains),
        params=params,
        counts=report.after,
        seconds=time.perf_counter() - t0,
        replaced=old is not None,
    )


def import_demo(
    store, out_dir: str | Path, name: str = "demo", replace: bool = False, **flags
) -> ImportResult:
    """Import the files of `datasets.demo.write_demo` as a dataset flagged synthetic (paper filters on)."""
    from semacdr_cli.datasets.demo import DOMAINS

    return import_dataset(
        store, "csv", out_dir, domains=list(DOMAINS), name=name, replace=replace, synthetic=True,
        record_format="demo", **flags,
    )  # fmt: skip
