"""semacdr: LLM semantic annotation and SemaCDR training for cross-domain sequential recommendation."""

__version__ = "0.1.0"
