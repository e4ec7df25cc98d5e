"""The LLMCDSR layout: sequences of global item ids plus ``items_<domain>.jsonl.gz``.

Folder contents (see ``../shared/data/amazon-food-kitchen/README.md``): ``items_<domain>.jsonl[.gz]``
rows ``{"id", "local_id", "asin", "title"}`` with 0-based global ids (the first domain holds the
low id range); ``train_overlap.txt``, ``valid.txt``, ``test.txt`` (overlapped users, one line
``uid<TAB>id,id,...`` each, user ids restart in every file) and ``train_A.txt`` / ``train_B.txt``
(single-domain users, read only with ``--all-users``); each may be gzipped. There are no
timestamps: the order on the line is the chronology. The three overlapped files are pooled.
"""

from __future__ import annotations

from pathlib import Path

from semacdr_cli.datasets.records import InteractionRecord, ItemRecord, Source
from semacdr_cli.datasets.textio import decode, iter_lines, parse_json, require_dir
from semacdr_cli.errors import SemacdrError

OVERLAP_FILES = ("train_overlap", "valid", "test")
SINGLE_FILES = ("train_A", "train_B")


def _find(folder: Path, stem: str, suffixes=(".txt.gz", ".txt")) -> Path | None:
    for suffix in suffixes:
        p = folder / f"{stem}{suffix}"
        if p.exists():
            return p
    return None


def discover_domains(folder: Path) -> list[str]:
    """Domain names from ``items_<domain>.jsonl[.gz]``, ordered by their lowest global id."""
    found = {}
    for p in sorted(folder.glob("items_*.jsonl*")):
        name = p.name[len("items_") :].split(".jsonl")[0]
        for lineno, line in iter_lines(p):
            found[name] = int(parse_json(line, p, lineno).get("id", 0))
            break
    return sorted(found, key=found.get)


def _read_items(folder: Path, domain: str) -> tuple[dict[int, str], dict[str, ItemRecord]]:
    path = _find(folder, f"items_{domain}", (".jsonl.gz", ".jsonl"))
    if path is None:
        raise SemacdrError(f"no items_{domain}.jsonl.gz for domain {domain!r}", path=str(folder))
    ids: dict[int, str] = {}
    rows: dict[str, ItemRecord] = {}
    for lineno, line in iter_lines(path):
        obj = parse_json(line, path, lineno)
        if not isinstance(obj, dict):
            raise SemacdrError("expected a JSON object per line", path=str(path), line=lineno)
        for key in ("id", "asin"):
            if key not in obj:
                raise SemacdrError(f"missing field {key!r}", path=str(path), line=lineno)
        try:
            gid = int(obj["id"])
        except (TypeError, ValueError):
            raise SemacdrError(
                f"field 'id' is not an integer: {obj['id']!r}", path=str(path), line=lineno
            ) from None
        asin = str(obj["asin"])
        rec = ItemRecord(domain, asin, title=obj.get("title"), raw=obj)
        if gid in ids and ids[gid] != asin:
            raise SemacdrError(
                f"item id {gid} appears twice with different ASINs", path=str(path), line=lineno
            )
        old = rows.get(asin)
        if old is not None and old.content() != rec.content():
            raise SemacdrError(f"conflicting duplicate rows for item {asin!r}", path=str(path), line=lineno)
        ids[gid] = asin
        rows.setdefault(asin, rec)
    return ids, rows


def open_source(paths: list[str | Path], domains: list[str] | None, overlapped_only: bool = True) -> Source:
    """The registry entry (``datasets.FORMATS``): one folder; all users unless ``overlapped_only``."""
    from semacdr_cli.datasets import one_folder

    return read(one_folder("llmcdsr", paths), domains, all_users=not overlapped_only)


def read(folder: str | Path, domains: list[str] | None = None, all_users: bool = False) -> Source:
    folder = require_dir(folder)
    if not domains:
        domains = discover_domains(folder)
        if len(domains) != 2:
            raise SemacdrError(
                f"expected items_<domain>.jsonl.gz for two domains, found {domains or 'none'}; "
                "name them with --domains A,B",
                path=str(folder),
            )
    if len(domains) != 2:
        raise SemacdrError(f"--domains: the llmcdsr layout has two domains, got {len(domains)}")
    id_to: dict[int, tuple[str, str]] = {}
    item_rows: dict[str, dict[str, ItemRecord]] = {}
    for d in domains:
        ids, rows = _read_items(folder, d)
        item_rows[d] = rows
        for gid, asin in ids.items():
            id_to[gid] = (d, asin)
    files = [_find(folder, stem) for stem in OVERLAP_FILES]
    missing = [stem for stem, p in zip(OVERLAP_FILES, files, strict=True) if p is None]
    if missing:
        raise SemacdrError(
            f"missing sequence file(s): {', '.join(m + '.txt[.gz]' for m in missing)}", path=str(folder)
        )
    if all_users:
        files += [p for p in (_find(folder, stem) for stem in SINGLE_FILES) if p is not None]

    def interactions(progress=None):
        for path in files:
            prefix = path.name.split(".")[0]
            for lineno, line in iter_lines(path, progress):
                text = decode(line, path, lineno).strip()
                uid, sep, seq = text.partition("\t")
                if not sep:
                    raise SemacdrError("expected `user<TAB>item,item,...`", path=str(path), line=lineno)
                user = f"{prefix}:{uid}"
                for tok in seq.split(","):
                    try:
                        gid = int(tok)
                    except ValueError:
                        raise SemacdrError(
                            f"item id {tok!r} is not an integer", path=str(path), line=lineno
                        ) from None
                    hit = id_to.get(gid)
                    if hit is None:
                        raise SemacdrError(
                            f"item id {gid} has no row in items_{{{','.join(domains)}}}.jsonl.gz",
                            path=str(path),
                            line=lineno,
                        )
                    yield InteractionRecord(user, hit[0], hit[1])

    def items(wanted, progress=None):
        for d in domains:
            rows = item_rows[d]
            for asin in wanted.get(d, ()):
                yield rows[asin]

    return Source(
        format="llmcdsr",
        domains=list(domains),
        source=str(folder),
        interactions=interactions,
        items=items,
        strict_items=True,
        default_name=folder.resolve().name,
    )
