"""Item annotation by job: `domain` (the entry), `summary`, `item_text`, `score` (calibrated option
scoring) with `calibration` and `text_checks`, `scored` (the scoring run), `distill`, `generate`
(constrained JSON with its answer check) with `outliers` (App. C)."""
