"""Reading input files line by line: plain or gzip (by magic bytes), with file:line errors.

Every reader goes through `iter_lines`, so a missing path, an empty file, a truncated or corrupt
gzip stream and non-UTF-8 bytes are reported the same way everywhere.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from semacdr_cli import safe_json
from semacdr_cli.errors import SemacdrError

try:  # orjson is a declared dependency; json keeps the module importable without it
    import orjson

    _loads = orjson.loads
    _JSONError: tuple = (orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover
    orjson = None
    _loads = safe_json.loads
    _JSONError = (json.JSONDecodeError, UnicodeDecodeError)

GZIP_MAGIC = b"\x1f\x8b"
PROGRESS_EVERY = 1 << 16  # lines between two progress callbacks


def require_file(path: str | Path, what: str = "file") -> Path:
    p = Path(path)
    if not p.exists():
        raise SemacdrError(f"no such {what}", path=str(p))
    if not p.is_file():
        raise SemacdrError(f"not a {what} (a folder?)", path=str(p))
    return p


def require_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise SemacdrError("no such folder", path=str(p))
    if not p.is_dir():
        raise SemacdrError("not a folder", path=str(p))
    return p


def iter_lines(path: str | Path, progress=None, label: str | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_bytes)`` for the non-blank lines of a plain or gzip file.

    Raises SemacdrError for a missing path, an empty file, a truncated/corrupt gzip stream.
    ``progress(label, compressed_bytes_read, file_size)`` is called every few thousand lines.
    """
    p = require_file(path)
    size = p.stat().st_size
    label = label or p.name
    raw = open(p, "rb")  # noqa: SIM115 - closed in finally
    lineno = 0
    seen = False
    try:
        head = raw.read(2)
        raw.seek(0)
        if head == GZIP_MAGIC:  # a C-level readline over the decompressed stream
            stream = io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), buffer_size=1 << 20)
        else:
            stream = io.BufferedReader(raw, buffer_size=1 << 20)
        try:
            for lineno, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                seen = True
                yield lineno, line
                if progress is not None and lineno % PROGRESS_EVERY == 0:
                    progress(label, raw.tell(), size)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise SemacdrError(
                f"truncated or corrupt gzip file after line {lineno} ({exc})", path=str(p)
            ) from None
        if not seen:
            raise SemacdrError("the file is empty", path=str(p))
        if progress is not None:
            progress(label, size, size)
    finally:
        raw.close()


def decode(line: bytes, path, lineno: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SemacdrError(
            f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})",
            path=str(path),
            line=lineno,
        ) from None


def parse_json(line: bytes, path, lineno: int):
    """Parse one JSON line; a bad line is reported with its file and line number."""
    try:
        return _loads(line)
    except _JSONError as exc:
        decode(line, path, lineno)  # a UTF-8 problem gets its own message
        msg = str(exc).split("\n")[0]
        raise SemacdrError(f"malformed JSON line ({msg})", path=str(path), line=lineno) from None


def iter_text_lines(path, progress=None) -> Iterator[tuple[int, str]]:
    for lineno, line in iter_lines(path, progress):
        yield lineno, decode(line, path, lineno).rstrip("\r\n")
