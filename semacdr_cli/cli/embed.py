"""`semacdr embed --domain D`: sentence embeddings of the enriched descriptions."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import DatasetOption, JobConfigOption
from semacdr_cli.cli.output import emit, options, plain, table
from semacdr_cli.config import EmbedConfig


def register(app: typer.Typer) -> None:
    @app.command("embed")
    def embed(
        domain: Annotated[str, typer.Option("--domain", help="Domain whose items to encode.")],
        model: Annotated[
            str | None,
            typer.Option(
                "--model", help="Local sentence-transformers folder (default: bundled all-MiniLM-L6-v2)."
            ),
        ] = None,
        batch_size: Annotated[
            int, typer.Option("--batch-size", help="Texts per encoder batch and commit.")
        ] = EmbedConfig.batch_size,
        device: Annotated[str | None, typer.Option("--device", help="cpu | cuda (default: cpu).")] = None,
        job_config: JobConfigOption = None,
        dataset: DatasetOption = None,
    ) -> None:
        """Encode each item's title + enriched description (title + raw description when it has no
        annotation) with sentence-transformers; unchanged texts are skipped.

        Example: `semacdr embed --domain food --batch-size 128`

        docs: docs/semantics.md
        """
        from semacdr_cli.cli.llm_common import progress_bar
        from semacdr_cli.config import DEFAULT_EMBED_MODEL
        from semacdr_cli.embed import embed_domain
        from semacdr_cli.errors import SemacdrError
        from semacdr_cli.store import Store

        if batch_size < 1:
            raise SemacdrError("--batch-size: must be at least 1")
        cfg = EmbedConfig(
            domain=domain, model=model or DEFAULT_EMBED_MODEL, batch_size=batch_size, device=device
        )
        with Store(options().db, create=False) as store:
            ds = store.dataset(dataset)
            with progress_bar() as progress:
                s = embed_domain(store, ds["id"], cfg, progress)
        columns = ("items", "encoded", "unchanged", "title + raw text", "items/s", "seconds")
        row = (s.items, s.encoded, s.unchanged, s.fallback_text, s.items_per_s, s.seconds)
        note = f"{s.fallback_text} items had no annotation: encoded from title + raw description"
        emit(
            s.as_dict(),
            lambda: table(f"embed {s.domain} ({s.model}, {s.dim}-d)", columns, [row], right=columns),
            plain(note) if s.fallback_text else None,
        )
