"""What the LLM commands share (annotate, taxonomy induce, embed, demo): the backend options, the
one place the CLI builds a concrete backend, and the progress bar."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer

from semacdr_cli.cli.output import err_console

BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        rich_help_panel="LLM",
        help="LLM backend: transformers | vllm | openai (default: vllm when importable and a GPU is present, "
        "else transformers on CPU).",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        rich_help_panel="LLM",
        help="Model folder, .gguf file or cached hub id (default: the bundled SmolLM2-135M).",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url", rich_help_panel="LLM", help="OpenAI-compatible server URL (with --backend openai)."
    ),
]
PromptsOption = Annotated[
    str | None,
    typer.Option(
        "--prompts",
        rich_help_panel="LLM",
        help="Folder with your own prompt templates / schemas (same file names).",
    ),
]
SeedOption = Annotated[
    int, typer.Option("--seed", rich_help_panel="LLM", help="Sampling and sampling-of-items seed.")
]
TemperatureOption = Annotated[
    float,
    typer.Option(
        "--temperature",
        rich_help_panel="LLM",
        help="0 = greedy: the same answers for the same batches (in bf16 a resumed run batches items "
        "differently, which can change some descriptions).",
    ),
]
RepetitionPenaltyOption = Annotated[
    float,
    typer.Option(
        "--repetition-penalty",
        rich_help_panel="LLM",
        help="> 1 discourages repeats (stops a small model's loops).",
    ),
]


def pick_backend_name(name: str | None) -> str:
    if name:
        return name
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "transformers"


def default_batch_size(backend: str) -> int:
    """Prompts per backend call when --batch-size is not given: small on CPU, large for engines that
    batch continuously (vllm, an OpenAI-compatible server)."""
    return 64 if backend in ("vllm", "openai") else 32


def make_backend(name: str | None, model: str | None, base_url: str | None, batch_size: int):
    """Build the backend named on the command line (the only place the CLI picks a concrete one)."""
    from semacdr_cli.llm import get_backend

    name = pick_backend_name(name)
    opts: dict = {}
    if base_url:
        opts["base_url"] = base_url
    if name == "transformers":
        opts["batch_size"] = batch_size
    if name == "openai":
        opts["concurrency"] = batch_size
    return get_backend(name, model=model, **opts)


@contextmanager
def progress_bar(enabled: bool = True):
    """A rich progress bar on stderr with items/s and ETA; yields a (phase, done, total) callback."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Speed(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.2f} items/s" if task.speed else "- items/s")

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Speed(), TimeRemainingColumn(),
        console=err_console, transient=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        yield update


@contextmanager
def backend_job(name: str | None, model: str | None, base_url: str | None, batch_size: int):
    """An LLM job's frame: the backend built, a progress bar while the job runs, the backend closed
    after (also on an error). Yields (backend, progress callback)."""
    llm = make_backend(name, model, base_url, batch_size)
    try:
        with progress_bar() as progress:
            yield llm, progress
    finally:
        llm.close()
