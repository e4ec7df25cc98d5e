"""The raw Amazon review dumps (McAuley et al.), releases 2014, 2018 and 2023, streamed.

Per domain a reviews file and a metadata file, plain or gzip, one record per line:

- 2014: ``reviews_X.json.gz`` (JSON: ``reviewerID``, ``asin``, ``unixReviewTime``, ``overall``) and
  ``meta_X.json.gz`` whose lines are *Python literals* (single quotes), parsed with
  ``ast.literal_eval`` (never ``eval``).
- 2018: ``X.json.gz`` and ``meta_X.json.gz``, both JSON lines (same review fields as 2014).
- 2023: ``X.jsonl.gz`` (``user_id``, ``parent_asin``, ``timestamp`` in ms, ``rating``) and
  ``meta_X.jsonl.gz`` (keyed by ``parent_asin``).

The release is recognised per line from the field names. Reviews are parsed line by line; the
metadata file is read once, after the reviews, and only the lines of items that survived the
filters are parsed (the others are skipped by a cheap id match), so memory does not grow with the
size of the dumps.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from semacdr_cli.datasets.records import ItemRecord, Source
from semacdr_cli.datasets.textio import decode, iter_lines, parse_json, require_file
from semacdr_cli.errors import SemacdrError

_ID_PATTERNS = (
    re.compile(rb"""["']parent_asin["']\s*:\s*["']([^"']+)["']"""),
    re.compile(rb"""["']asin["']\s*:\s*["']([^"']+)["']"""),
)


def _number(value, name: str, path, lineno) -> float | None:
    """A numeric field of a review (a number, or a numeric string), None when absent."""
    if value is None:
        return None
    try:
        if isinstance(value, bool | list | dict):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise SemacdrError(f"{name} {value!r} is not a number", path=str(path), line=lineno) from None


def _key(obj: dict, name: str, path, lineno) -> str:
    """An id field of a review: a string (or a number, as some dumps write ids)."""
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SemacdrError(f"field {name!r} is not a string: {value!r}", path=str(path), line=lineno)
    return value if type(value) is str else str(value)


def review_fields(obj, path, lineno) -> tuple[str, str, float | None, float | None]:
    """(user, item, unix seconds, rating) of one review of any release."""
    if not isinstance(obj, dict):
        raise SemacdrError("expected a JSON object per line", path=str(path), line=lineno)
    try:
        if "reviewerID" in obj:
            ts = _number(obj.get("unixReviewTime"), "unixReviewTime", path, lineno)
            rating = _number(obj.get("overall"), "overall", path, lineno)
            return _key(obj, "reviewerID", path, lineno), _key(obj, "asin", path, lineno), ts, rating
        if "user_id" in obj:
            ts = _number(obj.get("timestamp"), "timestamp", path, lineno)
            item = (
                _key(obj, "parent_asin", path, lineno)
                if obj.get("parent_asin")
                else _key(obj, "asin", path, lineno)
            )
            rating = _number(obj.get("rating"), "rating", path, lineno)
            return _key(obj, "user_id", path, lineno), item, (ts / 1000.0 if ts is not None else None), rating
    except KeyError as exc:
        raise SemacdrError(f"missing field {exc.args[0]!r}", path=str(path), line=lineno) from None
    raise SemacdrError(
        "missing field 'reviewerID' (2014/2018) or 'user_id' (2023): not an Amazon review line",
        path=str(path),
        line=lineno,
    )


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    value = str(value).strip()
    return value or None


def item_from_meta(obj: dict, domain: str) -> ItemRecord:
    ext = obj.get("parent_asin") or obj.get("asin")
    cats = obj.get("categories") if "categories" in obj else obj.get("category")
    if isinstance(cats, list) and cats and isinstance(cats[0], list):  # 2014: a list of paths
        cats = cats[0]
    if not isinstance(cats, list) or not cats:
        cats = [obj["main_category"]] if obj.get("main_category") else None
    brand = obj.get("brand") or obj.get("store")
    if not brand and isinstance(obj.get("details"), dict):
        brand = obj["details"].get("Brand")
    return ItemRecord(
        domain,
        str(ext),
        title=_text(obj.get("title")),
        description=_text(obj.get("description")),
        categories=[str(c) for c in cats] if cats else None,
        brand=_text(brand),
        raw=obj,
    )


def _parse_meta(line: bytes, path, lineno: int, literal: bool):
    if not literal:
        return parse_json(line, path, lineno)
    text = decode(line, path, lineno)
    try:
        obj = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise SemacdrError(
            "malformed metadata line (neither JSON nor a Python literal)", path=str(path), line=lineno
        ) from None
    return obj


def _is_literal_file(path) -> bool:
    """2014 metadata lines are Python literals: decided on the first line."""
    for lineno, line in iter_lines(path):
        try:
            parse_json(line, path, lineno)
            return False
        except SemacdrError:
            _parse_meta(line, path, lineno, literal=True)  # raises when it is neither
            return True
    return False


def open_source(paths: list[str | Path], domains: list[str] | None, overlapped_only: bool = True) -> Source:
    """The registry entry (``datasets.FORMATS``): REVIEWS_A META_A REVIEWS_B META_B in --domains order."""
    if not domains:
        raise SemacdrError("--domains: name the two domains, e.g. --domains food,kitchen")
    if len(paths) != 2 * len(domains):
        raise SemacdrError(
            "amazon takes a reviews file and a metadata file per domain, in the order of --domains: "
            f"REVIEWS_A META_A REVIEWS_B META_B (got {len(paths)} paths for {len(domains)} domains)"
        )
    n = len(domains)
    return read(domains, [paths[2 * k] for k in range(n)], [paths[2 * k + 1] for k in range(n)])


def read(domains: list[str], reviews: list[str | Path], meta: list[str | Path]) -> Source:
    if len(domains) < 2:
        raise SemacdrError(f"--domains: name two domains (got {domains})")
    if not (len(reviews) == len(meta) == len(domains)):
        raise SemacdrError(
            f"give one reviews file and one metadata file per domain ({len(domains)} domains, "
            f"{len(reviews)} reviews, {len(meta)} metadata files)"
        )
    reviews = [require_file(p) for p in reviews]
    meta = [require_file(p) for p in meta]

    def interactions(progress=None):
        for d, path in zip(domains, reviews, strict=True):
            for lineno, line in iter_lines(path, progress):
                user, item, ts, rating = review_fields(parse_json(line, path, lineno), path, lineno)
                # a plain tuple in InteractionRecord's field order (cheaper than the NamedTuple)
                yield (user, d, item, ts, rating)

    def items(wanted, progress=None):
        for d, path in zip(domains, meta, strict=True):
            want = {w.encode() for w in wanted.get(d, ())}
            if not want:
                continue
            literal = _is_literal_file(path)
            seen: dict[str, ItemRecord] = {}
            for lineno, line in iter_lines(path, progress):
                for pat in _ID_PATTERNS:
                    m = pat.search(line)
                    if m:
                        break
                if m is not None and m.group(1) not in want:
                    continue
                obj = _parse_meta(line, path, lineno, literal)
                if not isinstance(obj, dict) or not (obj.get("parent_asin") or obj.get("asin")):
                    raise SemacdrError("missing field 'asin' / 'parent_asin'", path=str(path), line=lineno)
                rec = item_from_meta(obj, d)
                if rec.external_id not in wanted.get(d, ()):
                    continue
                old = seen.get(rec.external_id)
                if old is not None:
                    if old.content() != rec.content():
                        raise SemacdrError(
                            f"conflicting duplicate rows for item {rec.external_id!r}",
                            path=str(path),
                            line=lineno,
                        )
                    continue
                seen[rec.external_id] = rec
            yield from seen.values()

    return Source(
        format="amazon",
        domains=list(domains),
        source=", ".join(str(p) for p in [*reviews, *meta]),
        interactions=interactions,
        items=items,
        strict_items=False,
        default_name="amazon-" + "-".join(domains),
    )
