"""The item text the LLM sees (title and raw text, HTML entities decoded, capped; never trusted:
labels come from the taxonomy whatever it says) and the taxonomy as prompt text."""

from __future__ import annotations

import html
import json


def _clean(text: str | None, cap: int) -> str:
    """Untrusted item text for a prompt: entities decoded, then angle brackets replaced, so no
    `</item>` (also not one written `&lt;/item&gt;`) can close the item's delimiter; whitespace
    collapsed; at most `cap` characters."""
    t = html.unescape(" ".join((text or "").split()))
    return t.replace("<", "‹").replace(">", "›")[:cap]


def item_text(row) -> str:
    """The item as the LLM sees it (HTML entities decoded, delimiters escaped, long text cut)."""
    parts = [f"Title: {_clean(row['title'], 200)}"]
    if row["description"]:
        parts.append(f"Description: {_clean(row['description'], 600)}")
    if row["categories"]:
        try:
            path = json.loads(row["categories"])
            if isinstance(path, list) and path:
                flat = [" > ".join(map(str, p)) if isinstance(p, list) else str(p) for p in path]
                parts.append(f"Category path: {_clean(' | '.join(flat), 200)}")
        except (json.JSONDecodeError, TypeError):
            pass
    if row["brand"]:
        parts.append(f"Brand: {_clean(row['brand'], 60)}")
    return "\n".join(parts)


def taxonomy_prompt_text(tree: list[dict]) -> str:
    return "\n".join(f"- {c['name']}: {', '.join(s['name'] for s in c['subcategories'])}" for c in tree)
