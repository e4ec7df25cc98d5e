"""Evaluation in two protocols side by side: the paper's (the held-out item against 100 sampled
negatives) and full ranking over every target item (the user's own other items excluded), with
breakdowns: warm vs cold held-out items (cold: the item occurs in no training window, so an ID-only
model cannot have learnt it) and users with at least 3 prior target items."""

from __future__ import annotations

import numpy as np
import torch

from trainer.batch import collate
from trainer.data import CDData
from trainer.metrics import rank_of_positive, summarize
from trainer.negatives import eval_negatives


def sampled_negatives(data: CDData, split: str, n: int, seed: int) -> np.ndarray:
    """(cases, n) negatives per case, -1 where fewer exist; cached on ``data``."""
    cache = data.__dict__.setdefault("_eval_negatives", {})
    key = (split, n, seed)
    if key not in cache:
        cases = data.cases[split]
        out = np.full((len(cases), n), -1, np.int64)
        for k, c in enumerate(cases):
            negs = eval_negatives(int(data.user_ids[c.record.user]), split, c.own, data.n_target, n, seed)
            out[k, : len(negs)] = negs
        cache[key] = out
    return cache[key]


@torch.no_grad()
def evaluate_model(
    model,
    data: CDData,
    config,
    split: str = "test",
    protocols=("sampled", "full"),
    device: str | torch.device = "cpu",
) -> dict:
    """Metrics of ``model`` on the ``split`` cases: {protocol: {hr@5, hr@10, ndcg@5, ndcg@10}, "cases": n}."""
    model.eval()
    # similar lengths together (less padding); metrics are means, so the order does not matter
    cases = sorted(data.cases[split], key=lambda c: len(c.record.m_in) + len(c.record.t_in))
    out: dict = {"cases": len(cases)}
    if not cases:
        return out | {p: summarize(np.zeros(0)) for p in protocols}
    tables = model.tables()
    items = model.target_table(tables)
    nt = data.n_target
    if "sampled" in protocols:
        by_case = {id(c): k for k, c in enumerate(data.cases[split])}
        all_negs = sampled_negatives(data, split, config.eval_negatives, config.eval_seed)
        negs = all_negs[[by_case[id(c)] for c in cases]]
    step = config.eval_batch_size if config.score == "dot" else 32
    ranks = {p: [] for p in protocols}
    for start in range(0, len(cases), step):
        chunk = cases[start : start + step]
        batch = collate([c.record for c in chunk], nt, device=device)
        states = model.final_states(batch, tables)
        pos = torch.as_tensor([c.positive for c in chunk], device=states.device)
        pos_score = model.scorer.pairs(states, items[pos])
        if "sampled" in protocols:
            neg = torch.as_tensor(negs[start : start + step], device=states.device)
            s = model.scorer.pairs(states[:, None, :].expand(-1, neg.shape[1], -1), items[neg.clamp(min=0)])
            s = s.masked_fill(neg < 0, float("-inf"))
            ranks["sampled"].append(rank_of_positive(pos_score.cpu().numpy(), s.cpu().numpy()))
        if "full" in protocols:
            s = model.scorer.all(states, items[1 : nt + 1])  # column j is item j + 1
            # the positive's score from the same matrix product, so exact ties stay ties (and count
            # against it) instead of being broken by rounding differences between two kernels
            pos_full = s.gather(1, (pos - 1)[:, None]).squeeze(1)
            rows = np.concatenate([np.full(len(c.own), k) for k, c in enumerate(chunk)])
            cols = np.concatenate([c.own - 1 for c in chunk])
            s[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")  # own items, the positive too
            ranks["full"].append(rank_of_positive(pos_full.cpu().numpy(), s.cpu().numpy()))
    ranks = {p: np.concatenate(ranks[p]) for p in protocols}
    for p in protocols:
        out[p] = summarize(ranks[p])
    out["breakdown"] = breakdown(data, cases, ranks)
    return out


def warm_items(data: CDData) -> np.ndarray:
    """Boolean over target items 0..n_target: the item occurs in some user's training window."""
    warm = np.zeros(data.n_target + 2, bool)
    for seq in data.target_seqs:
        warm[seq] = True
    return warm


def case_groups(data: CDData, cases) -> dict[str, np.ndarray]:
    """Boolean masks over ``cases``: warm / cold held-out item, >= 3 prior target items."""
    warm = warm_items(data)
    is_warm = np.asarray([bool(warm[c.positive]) for c in cases], bool)
    prior = np.asarray([len(c.record.t_in) - 1 for c in cases])  # minus the start token
    return {"warm": is_warm, "cold": ~is_warm, "prior>=3": prior >= 3}


def breakdown(data: CDData, cases, ranks: dict[str, np.ndarray]) -> dict:
    """Per group: its number of cases and the metrics of every protocol over those cases alone."""
    out = {}
    for name, mask in case_groups(data, cases).items():
        out[name] = {"cases": int(mask.sum()), **{p: summarize(r[mask]) for p, r in ranks.items()}}
    return out
