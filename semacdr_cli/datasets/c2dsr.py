"""The C2DSR layout: ``Alist.txt``, ``Blist.txt`` and ``{train,valid,test}data_new.txt``.

``Alist.txt`` / ``Blist.txt`` list the items of domain A and B, one per line: ``external_id<TAB>index``
(or just ``external_id``, then the index is the line number - 1). In the sequence files a line is
``user<TAB>field<TAB>item|time<TAB>item|time ...``; the first two fields are skipped as C2DSR does,
item ids are global (B ids are offset by the number of A items), and events are ordered by ``time``
(ties keep the order on the line). ``time`` is stored as the interaction's timestamp. The three
files hold disjoint users and are pooled. The lists carry no titles.
"""

from __future__ import annotations

from pathlib import Path

from semacdr_cli.datasets.records import InteractionRecord, ItemRecord, Source
from semacdr_cli.datasets.textio import iter_text_lines, require_dir
from semacdr_cli.errors import SemacdrError

LISTS = ("Alist.txt", "Blist.txt")
SEQUENCES = ("traindata_new.txt", "validdata_new.txt", "testdata_new.txt")


def _read_list(path: Path, domain: str, offset: int) -> tuple[dict[int, str], dict[str, ItemRecord], int]:
    ids: dict[int, str] = {}
    rows: dict[str, ItemRecord] = {}
    count = 0
    for lineno, text in iter_text_lines(path):
        fields = text.split()
        if not fields:
            continue
        count += 1
        if len(fields) >= 2 and fields[-1].lstrip("-").isdigit():
            ext, local = fields[0], int(fields[-1])
        else:
            ext, local = fields[0], lineno - 1
        gid = offset + local
        if gid in ids and ids[gid] != ext:
            raise SemacdrError(
                f"item index {local} appears twice with different ids", path=str(path), line=lineno
            )
        if ext in rows and ids.get(gid) != ext:
            raise SemacdrError(f"conflicting duplicate rows for item {ext!r}", path=str(path), line=lineno)
        ids[gid] = ext
        rows[ext] = ItemRecord(domain, ext, raw={"index": local})
    return ids, rows, count


def open_source(paths: list[str | Path], domains: list[str] | None, overlapped_only: bool = True) -> Source:
    """The registry entry (``datasets.FORMATS``): one folder."""
    from semacdr_cli.datasets import one_folder

    return read(one_folder("c2dsr", paths), domains)


def read(folder: str | Path, domains: list[str] | None = None, all_users: bool = False) -> Source:
    folder = require_dir(folder)
    domains = list(domains or ["A", "B"])
    if len(domains) != 2:
        raise SemacdrError(f"--domains: the c2dsr layout has two domains, got {len(domains)}")
    id_to: dict[int, tuple[str, str]] = {}
    item_rows: dict[str, dict[str, ItemRecord]] = {}
    offset = 0
    for d, name in zip(domains, LISTS, strict=True):
        ids, rows, count = _read_list(folder / name, d, offset)
        item_rows[d] = rows
        id_to.update({g: (d, e) for g, e in ids.items()})
        offset += count
    files = [folder / name for name in SEQUENCES]

    def interactions(progress=None):
        for path in files:
            prefix = path.name.split("data_new")[0]
            for lineno, text in iter_text_lines(path, progress):
                fields = text.strip().split("\t")
                if len(fields) < 3:
                    raise SemacdrError("expected `user<TAB>x<TAB>item|time ...`", path=str(path), line=lineno)
                user = f"{prefix}:{fields[0]}"
                events = []
                for k, tok in enumerate(fields[2:]):
                    item, sep, when = tok.partition("|")
                    try:
                        gid, ts = int(item), (float(when) if sep else None)
                    except ValueError:
                        raise SemacdrError(
                            f"token {tok!r} is not `item|time`", path=str(path), line=lineno
                        ) from None
                    hit = id_to.get(gid)
                    if hit is None:
                        raise SemacdrError(
                            f"item id {gid} has no row in Alist.txt/Blist.txt", path=str(path), line=lineno
                        )
                    events.append((ts if ts is not None else k, k, hit, ts))
                events.sort()
                for _, _, (d, ext), ts in events:
                    yield InteractionRecord(user, d, ext, ts)

    def items(wanted, progress=None):
        for d in domains:
            for ext in wanted.get(d, ()):
                yield item_rows[d][ext]

    return Source(
        format="c2dsr",
        domains=domains,
        source=str(folder),
        interactions=interactions,
        items=items,
        strict_items=True,
        default_name=folder.resolve().name,
    )
