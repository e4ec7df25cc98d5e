"""Dataset readers: one module per input format, each yielding the plain records of `records`.

`amazon` (raw review dumps 2014/2018/2023), `csv_format` (per-domain interaction + item files),
`llmcdsr` (the preprocessed LLMCDSR layout), `c2dsr` (the C2DSR layout), `demo` (the synthetic
two-domain data set). `preprocess` applies the paper's App. B steps; `semacdr_cli.ingest` ties a
reader, the preprocessing and one store transaction together.
"""

FORMATS = ("amazon", "csv", "llmcdsr", "c2dsr")
