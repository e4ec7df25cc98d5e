"""The one retry-with-feedback loop of the LLM jobs (taxonomy merge and refine, constrained
annotation): ask, check every answer, ask again with the rejection in the prompt for the answers
that failed, at most ``tries`` times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def rejected(reason: str, advice: str = "Fix exactly that.") -> str:
    """The feedback line put into the next prompt after a rejected answer."""
    return f"Your previous answer was rejected: {reason}. {advice}"


def ask_until_valid(
    items: Sequence[T],
    ask: Callable[[list[T], list[str]], list[Any]],
    check: Callable[[T, Any], tuple[R | None, str]],
    tries: int,
    feedback: Callable[[str], str] = rejected,
) -> tuple[list[R | None], list[list[str]]]:
    """Every item's first valid result (None when none of ``tries`` answers was valid) and the
    reasons its answers were rejected. ``ask(items, feedbacks)`` answers a batch, one answer per
    item, each prompt carrying its feedback ("" on the first try); ``check(item, answer)`` returns
    (result, "") or (None, reason)."""
    results: list[R | None] = [None] * len(items)
    errors: list[list[str]] = [[] for _ in items]
    pending = list(range(len(items)))
    for _ in range(max(1, tries)):
        if not pending:
            break
        answers = ask(
            [items[i] for i in pending], [feedback(errors[i][-1]) if errors[i] else "" for i in pending]
        )
        still = []
        for i, answer in zip(pending, answers, strict=True):
            result, reason = check(items[i], answer)
            if result is not None:
                results[i] = result
            else:
                errors[i].append(reason)
                still.append(i)
        pending = still
    return results, errors
