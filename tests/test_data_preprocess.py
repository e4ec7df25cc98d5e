"""The App. B steps on hand-made tables: fixed point, per-domain thresholds, split rule."""

from __future__ import annotations

import numpy as np

from semacdr_cli.datasets import preprocess as pp


def table(rows):
    """rows: (user, domain, item, ts)"""
    u, d, i, t = (np.array(c) for c in zip(*rows, strict=True))
    n = len(rows)
    return pp.Table(
        u.astype(np.int64),
        d.astype(np.int64),
        i.astype(np.int64),
        t.astype(np.float64),
        np.arange(n, dtype=np.int64),
        np.full(n, np.nan, dtype=np.float32),
    )


def test_filters_iterate_until_nothing_changes():
    # item 9 has 2 events; removing it leaves user 1 with 1 event in domain 0, which removes
    # user 1's domain 0, which drops item 8 to 1 event... a chain that needs several rounds
    rows = []
    for user in range(3):  # users 0..2: solid in both domains on items 0..2 / 10..12
        rows += [(user, 0, k, k) for k in range(3)] + [(user, 1, 10 + k, 10 + k) for k in range(3)]
    rows += [(3, 0, 9, 1), (3, 0, 8, 2), (3, 1, 10, 3), (3, 1, 11, 4)]
    rows += [(4, 0, 9, 1), (4, 0, 8, 2), (4, 0, 7, 3), (4, 1, 12, 4), (4, 1, 11, 5)]
    flags = pp.Flags(min_item=2, min_user=2)
    report = pp.Report()
    t = pp.filter_to_fixed_point(table(rows), flags, 2, report)
    assert report.rounds >= 2
    # at the fixed point every threshold holds
    assert np.bincount(t.item)[np.unique(t.item)].min() >= 2
    key = t.user * 2 + t.domain
    assert np.bincount(key)[np.unique(key)].min() >= 2
    again = pp.Report()
    t2 = pp.filter_to_fixed_point(t, flags, 2, again)
    assert len(t2) == len(t) and again.rounds == 1


def test_user_threshold_is_per_domain():
    rows = [(0, 0, 1, 1), (0, 0, 2, 2), (0, 0, 3, 3), (0, 1, 4, 4), (0, 1, 5, 5)]
    t = pp.filter_to_fixed_point(
        table(rows), pp.Flags(min_item=0, min_user=3, overlapped_only=False), 2, pp.Report()
    )
    assert set(t.domain.tolist()) == {0}


def test_overlap_filter_drops_single_domain_users():
    rows = [(0, 0, 1, 1), (0, 1, 2, 2), (1, 0, 1, 3)]
    t = pp.filter_to_fixed_point(table(rows), pp.Flags(min_item=0, min_user=0), 2, pp.Report())
    assert set(t.user.tolist()) == {0}


def test_dedupe_keeps_the_earliest_event():
    rows = [(0, 0, 1, 5), (0, 0, 1, 2), (0, 0, 2, 3)]
    report = pp.Report()
    t = pp.dedupe(table(rows), report)
    assert sorted(t.ts.tolist()) == [2.0, 3.0]
    assert report.steps[0]["removed_interactions"] == 1


def test_split_is_leave_one_out_per_domain_in_time_order():
    # user 0: domain 0 has 4 events, domain 1 has 2, domain 0 of user 1 has 1; rows are shuffled in time
    rows = [
        (0, 0, 1, 40),
        (0, 1, 7, 15),
        (0, 0, 2, 10),
        (0, 0, 3, 30),
        (0, 1, 8, 50),
        (0, 0, 4, 20),
        (1, 0, 1, 5),
        (1, 1, 7, 6),
        (1, 1, 8, 7),
        (1, 1, 9, 8),
    ]
    t, pos, code = pp.split(table(rows))
    names = np.array(pp.SPLIT_NAMES)[code]
    got = {(int(u), int(i)): (int(p), str(s)) for u, i, p, s in zip(t.user, t.item, pos, names, strict=True)}
    assert [got[(0, i)][0] for i in (2, 7, 4, 3, 1, 8)] == [0, 1, 2, 3, 4, 5]  # mixed order by time
    assert [got[(0, i)][1] for i in (2, 4, 3, 1)] == ["train", "train", "valid", "test"]
    assert [got[(0, i)][1] for i in (7, 8)] == ["train", "test"]  # 2 events: no valid
    assert got[(1, 1)][1] == "test"  # 1 event: test only
    assert [got[(1, i)][1] for i in (7, 8, 9)] == ["train", "valid", "test"]


def test_events_without_time_keep_their_input_order():
    rows = [(0, 0, 3, np.nan), (0, 1, 1, np.nan), (0, 0, 2, np.nan)]
    t, pos, _ = pp.split(table(rows))
    assert t.item[np.argsort(pos)].tolist() == [3, 1, 2]
