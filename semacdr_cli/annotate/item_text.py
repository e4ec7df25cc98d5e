"""The item text the LLM sees (title and raw text, HTML entities decoded, capped; never trusted:
labels come from the taxonomy whatever it says) and the taxonomy as prompt text."""

from __future__ import annotations

from semacdr_cli import safe_json
from semacdr_cli.prompting import untrusted_text


def item_text(row) -> str:
    """The item as the LLM sees it (HTML entities decoded, delimiters escaped, long text cut)."""
    parts = [f"Title: {untrusted_text(row['title'], 200)}"]
    if row["description"]:
        parts.append(f"Description: {untrusted_text(row['description'], 600)}")
    if row["categories"]:
        try:
            path = safe_json.loads(row["categories"])
            if isinstance(path, list) and path:
                flat = [" > ".join(map(str, p)) if isinstance(p, list) else str(p) for p in path]
                parts.append(f"Category path: {untrusted_text(' | '.join(flat), 200)}")
        except (ValueError, TypeError):  # JSONDecodeError is a ValueError
            pass
    if row["brand"]:
        parts.append(f"Brand: {untrusted_text(row['brand'], 60)}")
    return "\n".join(parts)


def taxonomy_prompt_text(tree: list[dict]) -> str:
    return "\n".join(f"- {c['name']}: {', '.join(s['name'] for s in c['subcategories'])}" for c in tree)
