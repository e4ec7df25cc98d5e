"""Dataset readers: one module per input format, each yielding the plain records of `records`.

`amazon` (raw review dumps 2014/2018/2023), `csv_format` (per-domain interaction + item files),
`llmcdsr` (the preprocessed LLMCDSR layout), `c2dsr` (the C2DSR layout), `demo` (the synthetic
two-domain data set). `preprocess` applies the paper's App. B steps; `semacdr_cli.ingest` ties a
reader, the preprocessing and one store transaction together.
"""

from pathlib import Path

from semacdr_cli.errors import SemacdrError

# format name -> reader module; each module has open_source(paths, domains, overlapped_only) -> Source.
# A new input format is one module plus one line here.
FORMATS: dict[str, str] = {
    "amazon": "semacdr_cli.datasets.amazon",
    "csv": "semacdr_cli.datasets.csv_format",
    "llmcdsr": "semacdr_cli.datasets.llmcdsr",
    "c2dsr": "semacdr_cli.datasets.c2dsr",
}


def one_folder(fmt: str, paths: list[str | Path]) -> str | Path:
    """The single folder a folder-layout format reads."""
    if len(paths) != 1:
        raise SemacdrError(f"{fmt} takes one folder (got {len(paths)} paths)")
    return paths[0]
