"""The generic per-domain layout: ``interactions_<domain>.<ext>`` and ``items_<domain>.<ext>``.

``<ext>`` is ``csv``, ``tsv`` or ``jsonl`` (each optionally ``.gz``). Interactions: columns
``user``, ``item``, ``timestamp`` (unix seconds or an ISO-8601 date/time; may be empty, then the
file order is the chronology) and optional ``rating``. Items: ``item``, ``title`` and optional
``description``, ``categories`` (a JSON list, or a path separated by ``>`` or ``|``), ``brand``.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from semacdr_cli import safe_json
from semacdr_cli.datasets.records import InteractionRecord, ItemRecord, Source
from semacdr_cli.datasets.textio import decode, iter_lines, parse_json, require_dir
from semacdr_cli.errors import SemacdrError

EXTENSIONS = ("csv", "tsv", "jsonl", "csv.gz", "tsv.gz", "jsonl.gz")
INTERACTION_COLUMNS = ("user", "item")
ITEM_COLUMNS = ("item", "title")


def find_file(folder: Path, kind: str, domain: str) -> Path:
    hits = [
        folder / f"{kind}_{domain}.{ext}"
        for ext in EXTENSIONS
        if (folder / f"{kind}_{domain}.{ext}").exists()
    ]
    if not hits:
        raise SemacdrError(f"no {kind}_{domain}.csv/.tsv/.jsonl for domain {domain!r}", path=str(folder))
    if len(hits) > 1:
        raise SemacdrError(f"several {kind} files for domain {domain!r}: {', '.join(h.name for h in hits)}")
    return hits[0]


def discover_domains(folder: Path) -> list[str]:
    names = set()
    for p in folder.glob("interactions_*"):
        stem = p.name[len("interactions_") :]
        for ext in EXTENSIONS:
            if stem.endswith("." + ext):
                names.add(stem[: -len(ext) - 1])
    return sorted(names)


def iter_rows(path: Path, required: tuple[str, ...], progress=None):
    """Yield ``(line_number, {column: value})``; CSV/TSV by extension, JSONL otherwise."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".jsonl"):
        for lineno, line in iter_lines(path, progress):
            obj = parse_json(line, path, lineno)
            if not isinstance(obj, dict):
                raise SemacdrError("expected a JSON object per line", path=str(path), line=lineno)
            for col in required:
                if obj.get(col) in (None, ""):
                    raise SemacdrError(f"missing field {col!r}", path=str(path), line=lineno)
            yield lineno, obj
        return
    delimiter = "\t" if name.endswith(".tsv") else ","
    numbers: list[int] = []

    def text_lines():
        for lineno, line in iter_lines(path, progress):
            numbers.append(lineno)
            yield decode(line, path, lineno)

    reader = csv.reader(text_lines(), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SemacdrError("the file is empty", path=str(path)) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise SemacdrError(
            f"missing column(s) {', '.join(missing)} in the header (found: {', '.join(header)})",
            path=str(path),
            line=1,
        )
    try:
        for row in reader:
            lineno = numbers[-1]
            if len(row) != len(header):
                raise SemacdrError(
                    f"expected {len(header)} fields, found {len(row)}", path=str(path), line=lineno
                )
            rec = dict(zip(header, row, strict=True))
            for col in required:
                if not rec[col]:
                    raise SemacdrError(f"empty value in column {col!r}", path=str(path), line=lineno)
            yield lineno, rec
            if len(numbers) > 1024:
                del numbers[:-1]
    except csv.Error as exc:
        raise SemacdrError(
            f"malformed CSV ({exc})", path=str(path), line=numbers[-1] if numbers else None
        ) from None


def parse_time(value, path, lineno) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | list | dict):
        raise SemacdrError(f"timestamp {value!r} is not a time", path=str(path), line=lineno)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        raise SemacdrError(
            f"timestamp {value!r} is neither unix seconds nor ISO-8601", path=str(path), line=lineno
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _rating(value, path, lineno) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise SemacdrError(f"rating {value!r} is not a number", path=str(path), line=lineno) from None


def _categories(value) -> list[str] | None:
    if value in (None, ""):
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            got = safe_json.loads(text)
            if isinstance(got, list):
                return [str(v) for v in got]
        except ValueError:
            pass
    sep = ">" if ">" in text else "|"
    return [part.strip() for part in text.split(sep) if part.strip()]


def _opt(rec: dict, key: str) -> str | None:
    v = rec.get(key)
    return None if v in (None, "") else str(v)


def read_items(path: Path, domain: str) -> dict[str, ItemRecord]:
    rows: dict[str, ItemRecord] = {}
    for lineno, rec in iter_rows(path, ITEM_COLUMNS):
        item = ItemRecord(
            domain,
            str(rec["item"]),
            title=_opt(rec, "title"),
            description=_opt(rec, "description"),
            categories=_categories(rec.get("categories")),
            brand=_opt(rec, "brand"),
            raw=rec,
        )
        old = rows.get(item.external_id)
        if old is not None and old.content() != item.content():
            raise SemacdrError(
                f"conflicting duplicate rows for item {item.external_id!r}", path=str(path), line=lineno
            )
        rows.setdefault(item.external_id, item)
    return rows


def open_source(paths: list[str | Path], domains: list[str] | None, overlapped_only: bool = True) -> Source:
    """The registry entry (``datasets.FORMATS``): one folder."""
    from semacdr_cli.datasets import one_folder

    return read(one_folder("csv", paths), domains)


def read(folder: str | Path, domains: list[str] | None = None, fmt: str = "csv") -> Source:
    folder = require_dir(folder)
    domains = list(domains or discover_domains(folder))
    if len(domains) < 2:
        raise SemacdrError(
            f"expected interactions_<domain> files for two domains, found {domains or 'none'}",
            path=str(folder),
        )
    files = {d: (find_file(folder, "interactions", d), find_file(folder, "items", d)) for d in domains}
    item_rows = {d: read_items(files[d][1], d) for d in domains}

    def interactions(progress=None):
        for d in domains:
            path = files[d][0]
            rows = item_rows[d]
            for lineno, rec in iter_rows(path, INTERACTION_COLUMNS, progress):
                item = str(rec["item"])
                if item not in rows:
                    raise SemacdrError(
                        f"item {item!r} has no row in {files[d][1].name}", path=str(path), line=lineno
                    )
                yield InteractionRecord(
                    str(rec["user"]),
                    d,
                    item,
                    parse_time(rec.get("timestamp"), path, lineno),
                    _rating(rec.get("rating"), path, lineno),
                )

    def items(wanted, progress=None):
        for d in domains:
            for ext in wanted.get(d, ()):
                yield item_rows[d][ext]

    return Source(
        format=fmt,
        domains=domains,
        source=str(folder),
        interactions=interactions,
        items=items,
        strict_items=True,
        default_name=folder.resolve().name,
    )
