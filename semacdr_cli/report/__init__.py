"""The report by job: `build` (collect the store's runs and write the report), `runs` (the run
tables), `figures` (what the figures show), `markdown` (rendering), `plots` (matplotlib PNGs)."""
