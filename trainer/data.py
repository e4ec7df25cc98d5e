"""Everything the trainer reads from the store, turned into arrays (the only trainer module that touches it).

Index spaces: target items are ``1..n_target`` (0 = padding, ``n_target + 1`` = the start token),
source items ``1..n_source`` likewise, and the mixed vocabulary puts target items first and source
items after them (``n_target + s``), start token ``n_target + n_source + 1``.

Training instances (documented in docs/trainer.md): for each user, the *training window* is the
user's ``train`` interactions of both domains that come before the user's first held-out target
interaction (so nothing at or after the validation/test item), truncated to the last ``max_len``.
Every target item in the window is a positive predicted from what happened strictly before it: the
target prefix (Eq. 8), the source items before it (cross-attention keys, Eq. 10) and the mixed
prefix (Eq. 9). Evaluation instances use everything before the held-out item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import Store
from semacdr_cli.store import training as q
from trainer.config import TrainConfig
from trainer.models import SINGLE_DOMAIN


@dataclass
class Domain:
    name: str
    id: int
    item_ids: np.ndarray  # store ids; local index = position + 1

    @property
    def n(self) -> int:
        return len(self.item_ids)


@dataclass
class Record:
    """One user's sequences, with a target state per instance."""

    user: int  # row in the user table (0-based)
    t_in: np.ndarray  # start token + target items (states of Eq. 8)
    t_time: (
        np.ndarray
    )  # per target state: index of the mixed state it may see (Eq. 9), keys before it (Eq. 10)
    t_pos: np.ndarray  # per target state: the positive item (0: none)
    s_in: np.ndarray  # start token + source items
    s_time: np.ndarray  # per source key: its index in the mixed window (-1 for the start token)
    m_in: np.ndarray  # start token + mixed items
    seen: np.ndarray  # target items the user trained on (excluded from BPR negatives)
    graph_items: np.ndarray | None = None  # the target items of the user's clique in the item graph (Eq. 5)


@dataclass
class EvalCase:
    record: Record
    positive: int  # the held-out target item
    own: np.ndarray  # every target item of the user (excluded from negatives and from full ranking)


@dataclass
class CDData:
    dataset_id: int
    target: Domain
    source: Domain | None
    n_users: int
    user_ids: np.ndarray
    train: list[Record]
    cases: dict[str, list[EvalCase]]
    # graph edges from the training windows only (local indices)
    target_seqs: list[np.ndarray] = field(default_factory=list)
    source_seqs: list[np.ndarray] = field(default_factory=list)
    ui_target: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    ui_source: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    # semantics (None when not used or not available)
    labels_target: np.ndarray | None = None  # (n_target + 2, K, S) subcategory index, 0 = none
    labels_source: np.ndarray | None = None
    n_subcategories: int = 0
    n_categories: int = 0
    vectors_target: np.ndarray | None = None  # (n_target + 2, dim) float32
    vectors_source: np.ndarray | None = None
    taxonomy_id: int | None = None
    embedding_model: str | None = None
    coverage: dict = field(default_factory=dict)

    @property
    def n_source(self) -> int:
        return 0 if self.source is None else self.source.n

    @property
    def n_target(self) -> int:
        return self.target.n

    def summary(self) -> dict:
        return {
            "users": self.n_users,
            "target_items": self.n_target,
            "source_items": self.n_source,
            "train_users": len(self.train),
            "train_instances": int(sum(int((r.t_pos > 0).sum()) for r in self.train)),
            "valid_cases": len(self.cases["valid"]),
            "test_cases": len(self.cases["test"]),
            **({"coverage": self.coverage} if self.coverage else {}),
        }


def load(store: Store | str, config: TrainConfig) -> CDData:
    """Read the two domains of ``config`` from an open store (or the store at a path)."""
    if isinstance(store, Store):
        return _load(store, config)
    with Store(store, create=False) as s:
        return _load(s, config)


def _load(store: Store, cfg: TrainConfig) -> CDData:
    ds = store.dataset(cfg.dataset)
    dataset_id = int(ds["id"])
    trow = store.domain(dataset_id, cfg.target)
    target = Domain(cfg.target, int(trow["id"]), np.asarray(q.domain_item_ids(store, trow["id"]), np.int64))
    source = None
    if cfg.model not in SINGLE_DOMAIN:
        srow = store.domain(dataset_id, cfg.source)
        source = Domain(
            cfg.source, int(srow["id"]), np.asarray(q.domain_item_ids(store, srow["id"]), np.int64)
        )
    if target.n == 0:
        raise SemacdrError(f"--target: domain {cfg.target!r} has no items")
    nt = target.n
    ns = 0 if source is None else source.n
    t_index = {int(i): k + 1 for k, i in enumerate(target.item_ids)}
    s_index = {} if source is None else {int(i): k + 1 for k, i in enumerate(source.item_ids)}
    domain_ids = [target.id] + ([] if source is None else [source.id])
    rows = q.interactions(store, domain_ids)
    if not any(r[2] == target.id for r in rows):
        raise SemacdrError(f"--target: domain {cfg.target!r} has no interactions")

    # group by user (rows come ordered by user, position)
    users: list[int] = []
    per_user: list[list[tuple[int, bool, int, str]]] = []
    last = None
    for user_id, item_id, domain_id, position, split in rows:
        if user_id != last:
            users.append(user_id)
            per_user.append([])
            last = user_id
        is_t = domain_id == target.id
        local = t_index[item_id] if is_t else s_index[item_id]
        per_user[-1].append((local, is_t, position, split))

    data = CDData(
        dataset_id=dataset_id,
        target=target,
        source=source,
        n_users=len(users),
        user_ids=np.asarray(users, np.int64),
        train=[],
        cases={"valid": [], "test": []},
    )
    ui_t_u, ui_t_i, ui_s_u, ui_s_i = [], [], [], []
    for u, seq in enumerate(per_user):
        held = [k for k, (_, is_t, _, split) in enumerate(seq) if is_t and split != "train"]
        cutoff = held[0] if held else len(seq)
        window = [x for x in seq[:cutoff] if x[3] == "train"]
        # graph edges: every training interaction of the window (before truncation)
        t_items = np.asarray([x[0] for x in window if x[1]], np.int64)
        s_items = np.asarray([x[0] for x in window if not x[1]], np.int64)
        if len(t_items):
            data.target_seqs.append(t_items)
            ui_t_u.append(np.full(len(t_items), u))
            ui_t_i.append(t_items)
        if len(s_items):
            data.source_seqs.append(s_items)
            ui_s_u.append(np.full(len(s_items), u))
            ui_s_i.append(s_items)
        window = window[-cfg.max_len :]
        if any(x[1] for x in window):
            data.train.append(_train_record(u, window, nt, ns))
            data.train[-1].graph_items = np.unique(t_items)  # the whole window, before truncation
        own = np.asarray(sorted({x[0] for x in seq if x[1]}), np.int64)
        for split in ("valid", "test"):
            k = next((k for k, x in enumerate(seq) if x[1] and x[3] == split), None)
            if k is None:
                continue
            hist = seq[:k][-cfg.max_len :]
            rec = _eval_record(u, hist, nt, ns)
            rec.seen = np.asarray(t_items, np.int64)
            data.cases[split].append(EvalCase(rec, seq[k][0], own))
    cat = np.concatenate
    if ui_t_u:
        data.ui_target = (cat(ui_t_u), cat(ui_t_i))
    if ui_s_u:
        data.ui_source = (cat(ui_s_u), cat(ui_s_i))
    if cfg.use_inner or cfg.use_agnostic:
        _load_semantics(store, cfg, data)
    return data


def _train_record(u: int, window: list, nt: int, ns: int) -> Record:
    # what follows the last target item of the window is never seen by a training state: drop it
    last_target = max(k for k, x in enumerate(window) if x[1])
    window = window[: last_target + 1]
    m = [x[0] if x[1] else nt + x[0] for x in window]
    t_idx = [k for k, x in enumerate(window) if x[1]]
    s_idx = [k for k, x in enumerate(window) if not x[1]]
    t_items = [window[k][0] for k in t_idx]
    return Record(
        user=u,
        # state j sees the start token and t_1..t_{j-1} and predicts t_j
        t_in=np.asarray([nt + 1] + t_items[:-1], np.int64),
        t_time=np.asarray(t_idx, np.int64),
        t_pos=np.asarray(t_items, np.int64),
        s_in=np.asarray([ns + 1] + [window[k][0] for k in s_idx], np.int64),
        s_time=np.asarray([-1] + s_idx, np.int64),
        m_in=np.asarray([nt + ns + 1] + m[:-1], np.int64),
        seen=np.asarray(sorted(set(t_items)), np.int64),
    )


def _eval_record(u: int, hist: list, nt: int, ns: int) -> Record:
    m = [x[0] if x[1] else nt + x[0] for x in hist]
    t_items = [x[0] for x in hist if x[1]]
    s_idx = [k for k, x in enumerate(hist) if not x[1]]
    n_t = len(t_items) + 1
    return Record(
        user=u,
        t_in=np.asarray([nt + 1] + t_items, np.int64),
        t_time=np.full(n_t, len(hist), np.int64),  # every state may see the whole history
        t_pos=np.zeros(n_t, np.int64),
        s_in=np.asarray([ns + 1] + [hist[k][0] for k in s_idx], np.int64),
        s_time=np.asarray([-1] + s_idx, np.int64),
        m_in=np.asarray([nt + ns + 1] + m, np.int64),
        seen=np.zeros(0, np.int64),
    )


def _load_semantics(store: Store, cfg: TrainConfig, data: CDData) -> None:
    domains = [data.target] + ([data.source] if data.source else [])
    ids = [d.id for d in domains]
    if cfg.use_agnostic:
        tax = cfg.taxonomy_id or q.latest_taxonomy_id(store, data.dataset_id)
        if tax is None:
            raise SemacdrError(
                "the store holds no taxonomy/annotations for this dataset; run `semacdr taxonomy induce` "
                "and `semacdr annotate` first, or train with --ablation no-semantics"
            )
        shape = q.taxonomy_shape(store, tax)
        labels = q.item_labels(store, tax, ids)
        if not shape or not labels:
            raise SemacdrError(
                f"taxonomy {tax} has no annotated items in these domains; run `semacdr annotate` first, "
                "or train with --ablation no-agnostic-semantics / no-semantics"
            )
        cats = sorted({(p, c) for p, c, _ in shape})
        cat_index = {c: k for k, (_, c) in enumerate(cats)}
        sub_index = {s: k + 1 for k, (_, _, s) in enumerate(shape)}
        per_item: dict[int, list[list[int]]] = {}
        for item, cat, sub in labels:
            if cat not in cat_index or sub not in sub_index:  # a label outside this taxonomy: ignored
                continue
            per_item.setdefault(item, [[] for _ in cats])[cat_index[cat]].append(sub_index[sub])
        width = max(1, min(8, max((len(v) for lists in per_item.values() for v in lists), default=1)))
        data.n_categories, data.n_subcategories, data.taxonomy_id = len(cats), len(shape), tax
        for d in domains:
            arr = np.zeros((d.n + 2, len(cats), width), np.int64)
            covered = 0
            for k, item in enumerate(d.item_ids):
                lists = per_item.get(int(item))
                if lists is None:
                    continue
                covered += 1
                for c, subs in enumerate(lists):
                    subs = sorted(subs)[:width]
                    arr[k + 1, c, : len(subs)] = subs
            data.coverage[f"labels_{d.name}"] = round(covered / max(1, d.n), 4)
            if d is data.target:
                data.labels_target = arr
            else:
                data.labels_source = arr
    if cfg.use_inner:
        models = q.embedding_models(store, ids)
        if cfg.embedding_model:
            models = [m for m in models if m[0] == cfg.embedding_model]
        if not models:
            which = f" from model {cfg.embedding_model!r}" if cfg.embedding_model else ""
            raise SemacdrError(
                f"the store holds no item embeddings{which} for these domains; run `semacdr embed` first, "
                "or train with --ablation no-inner-semantics / no-semantics"
            )
        name, dim, _ = models[0]
        data.embedding_model = name
        vecs = {
            item: np.frombuffer(blob, dtype="<f4")
            for item, d_, blob in q.item_vectors(store, name, ids)
            if d_ == dim
        }
        for d in domains:
            arr = np.zeros((d.n + 2, dim), np.float32)
            covered = 0
            for k, item in enumerate(d.item_ids):
                v = vecs.get(int(item))
                if v is not None and v.shape[0] == dim:
                    arr[k + 1] = v
                    covered += 1
            data.coverage[f"vectors_{d.name}"] = round(covered / max(1, d.n), 4)
            if d is data.target:
                data.vectors_target = arr
            else:
                data.vectors_source = arr
