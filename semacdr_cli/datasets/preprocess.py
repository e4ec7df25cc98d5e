"""The paper's preprocessing (App. B) on columnar interactions (numpy arrays).

Steps, each switchable: (i) order each user's events by time (ties and missing times keep the
input order); remove duplicate (user, item) events, keeping the first; (ii) keep items with at
least ``min_item`` interactions and users with at least ``min_user`` interactions *per domain*
(a user below it in one domain loses that domain's events); (iii) keep only users present in every
domain. (ii) and (iii) change each other's counts, so they are repeated as rounds until a round
removes nothing (the fixed point; the number of rounds, the last one included, is reported).
(iv) leave-one-out per domain, see `split`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "valid", "test")
SPLIT_RULE = (
    "per user and domain, in time order: the last interaction is test, the second-to-last valid, "
    "the rest train; a user with 2 interactions in a domain has 1 train + 1 test (no valid), "
    "with 1 interaction only a test one (no train, no valid)"
)


@dataclass
class Flags:
    dedupe: bool = True
    min_item: int = 10
    min_user: int = 3
    overlapped_only: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    """Interactions as parallel arrays; ``item`` indexes the importer's item list."""

    user: np.ndarray  # int64
    domain: np.ndarray  # int8
    item: np.ndarray  # int64
    ts: np.ndarray  # float64, nan when unknown
    order: np.ndarray  # int64, arrival order
    rating: np.ndarray  # float32, nan when unknown

    def __len__(self) -> int:
        return len(self.user)

    def take(self, idx) -> Table:
        return Table(*(a[idx] for a in (self.user, self.domain, self.item, self.ts, self.order, self.rating)))

    def counts(self) -> dict:
        return {
            "interactions": len(self),
            "users": int(np.unique(self.user).size),
            "items": int(np.unique(self.item).size),
        }


@dataclass
class Report:
    steps: list[dict] = field(default_factory=list)
    rounds: int = 0
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    def add(self, step: str, removed: int, setting=None) -> None:
        for s in self.steps:
            if s["step"] == step:
                s["removed_interactions"] += removed
                return
        self.steps.append({"step": step, "setting": setting, "removed_interactions": removed})

    def as_dict(self) -> dict:
        return asdict(self)


def _time_key(t: Table) -> np.ndarray:
    return np.where(np.isnan(t.ts), 0.0, t.ts)


def dedupe(t: Table, report: Report) -> Table:
    """Drop repeated (user, item) events, keeping the earliest."""
    if not len(t):
        report.add("duplicates", 0, "keep first")
        return t
    idx = np.lexsort((t.order, _time_key(t), t.item, t.user))
    u, i = t.user[idx], t.item[idx]
    dup = np.zeros(len(idx), dtype=bool)
    dup[1:] = (u[1:] == u[:-1]) & (i[1:] == i[:-1])
    keep = np.sort(idx[~dup])
    report.add("duplicates", int(dup.sum()), "keep first")
    return t.take(keep)


def drop_items(t: Table, bad_items: np.ndarray, report: Report, step: str) -> Table:
    """Drop the events of the items where ``bad_items`` (indexed by item) is True."""
    keep = ~bad_items[t.item]
    report.add(step, int((~keep).sum()))
    return t.take(keep)


def _one_round(t: Table, flags: Flags, n_domains: int, report: Report) -> tuple[Table, int]:
    removed = 0
    if flags.min_item > 1 and len(t):
        counts = np.bincount(t.item)
        keep = counts[t.item] >= flags.min_item
        n = int((~keep).sum())
        report.add("items with too few interactions", n, f">= {flags.min_item}")
        removed += n
        t = t.take(keep)
    if flags.min_user > 1 and len(t):
        key = t.user * n_domains + t.domain
        counts = np.bincount(key)
        keep = counts[key] >= flags.min_user
        n = int((~keep).sum())
        report.add("users with too few interactions in a domain", n, f">= {flags.min_user} per domain")
        removed += n
        t = t.take(keep)
    if flags.overlapped_only and len(t):
        present = np.zeros((int(t.user.max()) + 1, n_domains), dtype=bool)
        present[t.user, t.domain] = True
        keep = present.sum(axis=1)[t.user] == n_domains
        n = int((~keep).sum())
        report.add("users not in every domain", n, "overlapped users only")
        removed += n
        t = t.take(keep)
    return t, removed


def filter_to_fixed_point(t: Table, flags: Flags, n_domains: int, report: Report) -> Table:
    """Repeat the item / user / overlap filters until a round removes nothing."""
    if not (flags.min_item > 1 or flags.min_user > 1 or flags.overlapped_only):
        return t
    while True:
        t, removed = _one_round(t, flags, n_domains, report)
        report.rounds += 1
        if removed == 0 or not len(t):
            return t


def split(t: Table) -> tuple[Table, np.ndarray, np.ndarray]:
    """Order by user and time; return (table in that order, position, split code).

    ``position`` is the index in the user's mixed (all-domain) sequence; the split is leave-one-out
    per domain following `SPLIT_RULE`.
    """
    n = len(t)
    if n == 0:
        return t, np.zeros(0, np.int64), np.zeros(0, np.int8)
    tk = _time_key(t)
    idx = np.lexsort((t.order, tk, t.user))
    t = t.take(idx)
    tk = tk[idx]
    starts = np.r_[True, t.user[1:] != t.user[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    position = np.arange(n) - group_start
    # per (user, domain): the rank from the end and the group size
    jdx = np.lexsort((position, t.domain, t.user))
    u, d = t.user[jdx], t.domain[jdx]
    new = np.r_[True, (u[1:] != u[:-1]) | (d[1:] != d[:-1])]
    gid = np.cumsum(new) - 1
    sizes = np.bincount(gid)
    first = np.flatnonzero(new)
    rank = np.arange(n) - first[gid]
    from_end = sizes[gid] - 1 - rank
    size = sizes[gid]
    code_sorted = np.full(n, TRAIN, dtype=np.int8)
    code_sorted[from_end == 0] = TEST
    code_sorted[(from_end == 1) & (size >= 3)] = VALID
    code = np.empty(n, dtype=np.int8)
    code[jdx] = code_sorted
    return t, position.astype(np.int64), code


def short_sequences(t: Table, code: np.ndarray, domains: list[str]) -> dict:
    """Per domain: how many users have 1 or 2 interactions there (no valid split)."""
    out = {}
    for k, d in enumerate(domains):
        m = t.domain == k
        if not m.any():
            out[d] = {"1": 0, "2": 0}
            continue
        counts = np.bincount(t.user[m])
        counts = counts[counts > 0]
        out[d] = {"1": int((counts == 1).sum()), "2": int((counts == 2).sum())}
    return out
