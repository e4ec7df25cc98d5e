"""Taxonomy by job: `induce` (the entry), `facets` and `propose` (the two methods), `asking` (the
cached LLM caller both use), `rules` (normalisation and validation), `files` (import and export)."""
