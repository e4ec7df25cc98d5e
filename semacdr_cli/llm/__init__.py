"""LLM backends behind one small interface (`base.Backend`); jobs get a backend passed in and
never import a concrete one. `get_backend(name, ...)` builds one by name."""
