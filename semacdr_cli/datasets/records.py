"""The plain records every reader yields, and the `Source` shape the ingest step consumes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple


class InteractionRecord(NamedTuple):
    """One user-item event. ``timestamp`` is unix seconds (float keeps milliseconds), or None when
    the source has no time: then the order in which the reader yields events is the chronology."""

    user: str
    domain: str
    item: str
    timestamp: float | None = None
    rating: float | None = None


@dataclass(slots=True)
class ItemRecord:
    """One item row. ``categories`` is a list (a category path); ``raw`` the source record."""

    domain: str
    external_id: str
    title: str | None = None
    description: str | None = None
    categories: list[str] | None = None
    brand: str | None = None
    raw: dict | None = None

    def content(self) -> tuple:
        """What two rows of the same item must agree on to count as the same row."""
        cats = tuple(self.categories) if self.categories else None
        return (self.title, self.description, cats, self.brand)


# progress(description, done, total): total may be 0 when unknown
Progress = Callable[[str, int, int], None]


@dataclass
class Source:
    """What a reader hands to the ingest step.

    ``interactions()`` streams the events (each file read once, line by line);
    ``items(wanted)`` then yields the item rows of the wanted ``{domain: {external_id}}``.
    ``strict_items``: an interaction whose item has no row is bad input (preprocessed layouts);
    otherwise (raw dumps) such interactions are dropped and counted as the "no metadata" step.
    """

    format: str
    domains: list[str]
    source: str
    interactions: Callable[[Progress | None], Iterator[InteractionRecord]]
    items: Callable[[dict[str, set[str]], Progress | None], Iterable[ItemRecord]]
    strict_items: bool = True
    default_name: str = "dataset"
    notes: dict = field(default_factory=dict)
