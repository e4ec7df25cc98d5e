"""The one training configuration: every hyperparameter, defaults from the paper (§3.1.3, App. C, E).

A run folder stores the resolved config as JSON (``config.json``); ``--config FILE.toml`` overrides
any field by name (flat keys, or a ``[train]`` table).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from semacdr_cli.config_files import fits, read_toml
from semacdr_cli.errors import SemacdrError
from trainer.models import REGISTRY, SEMANTIC_PLUGIN, SINGLE_DOMAIN
from trainer.presets import DEFAULT as DEFAULT_PRESET
from trainer.presets import LEGACY, PRESETS

MODELS = tuple(REGISTRY)  # the model registry of trainer/models/__init__.py
# one switch per row of the paper's Table 3
ABLATIONS = (
    "no-inner-semantics",
    "no-agnostic-semantics",
    "no-semantics",
    "simple-graph",
    "no-cross-domain-fusion",
    "average-fusion",
    "no-contrastive",
)


@dataclass
class TrainConfig:
    # what to train
    source: str = ""
    target: str = ""
    dataset: str | None = None
    model: str = "semacdr"
    ablation: list[str] = field(default_factory=list)
    # architecture (paper §3.1.3 and App. C)
    hidden: int = 64
    dropout: float = 0.5
    max_len: int = 100
    n_blocks: int = 2
    n_heads: int = 1
    agnostic_integration: str = "concat"  # Eq. 2 integration: concat (+projection) | mean
    score: str = "dot"  # Eq. 12: dot | mlp
    gcn_residual: bool = True  # add each node's input to its GCN output (Eqs. 4-6); see docs/trainer.md
    # backbone switches (docs/trainer.md "Backbone": what it took to match a public SASRec)
    positions: str = "recency"  # recency: index 0 = the newest state (reference SASRec) | forward
    branch_dropout: bool = False  # the earlier extra dropout on the attention branch
    init: str = "xavier"  # xavier: position table at the reference's scale | legacy: N(0, 1)
    # Eq. 6: "source-mixed" = users link to their source items only, so a user's node never carries the
    # target items it is trained to predict ("Graph signal" in docs/trainer.md); "window" = paper-literal
    graph_edges: str = "source-mixed"
    # the target item graph (Eq. 5) in training steps, whose cliques come from the training windows:
    # keep (paper) | leave-batch-out: the batch's users' own window edges removed for that step |
    # score-base: positives and negatives scored against the item table before the graph layer
    graph_shortcut: str = "keep"
    fusion_user: bool = True  # Eq. 11: the user embedding is one of the fused parts (false: two parts)
    # optimisation (Eq. 14, App. E: the semantic learning rate is the smaller one)
    batch_size: int = 256  # users per batch; every target step of a user is a training instance
    lr: float = 1e-3
    lr_semantic: float = 1e-4
    weight_decay: float = 0.0
    adam_beta2: float = 0.98  # the reference SASRec's (torch's default is 0.999)
    # the recommendation loss; docs/trainer.md "Losses". auto: bpr for semacdr (Eq. 13), softmax for the
    # baselines | bpr | bce (``negatives`` per step, mean over them) | softmax (a shared sampled pool) |
    # full (cross-entropy over every target item)
    loss: str = "auto"
    negatives: int = 1  # bpr / bce: uniform negatives per target step (the paper: one)
    softmax_pool: str = (
        "shared"  # softmax: shared = the pool as drawn | exclude-positive: never its own positive
    )
    loss_norm: str = "instance"  # instance: every target step weighs the same | batch: mean per batch
    batching: str = "shuffle"  # shuffle: random users per batch | bucket: similar lengths together
    micro_batches: int = 4  # a batch computed in at most this many length-sorted pieces (same loss)
    micro_batch_cost: int = 1000  # padded tokens (users x length) one more piece must save; 0: always cut
    # semacdr's three encoders (Eqs. 7-9): separate = three calls | grouped = one batched computation
    # over their stacked weights (the same model; trainer/fast_encoders.py)
    encoders: str = "separate"
    # every model's sequence encoders: token-wise layers on the real tokens only (the same states at
    # every real position; trainer/fast_encoders.py) | false: over the padded batch as well
    pack_tokens: bool = False
    source_objective: bool = True  # cd-sasrec: next-source-item loss for the source table
    semantics: bool = False  # sasrec / cd-sasrec: plug in the multi-view semantic component (Table 2)
    lam: float = 0.1  # weight of the contrastive term (App. E)
    tau: float = 0.2  # InfoNCE temperature (Eq. 3)
    # Eq. 3's positives: diagonal = each item's own view only (items with the same labels are negatives of
    # each other) | label-groups = an item against its label group, never against a same-labelled item
    contrastive_positives: str = "diagonal"
    contrastive_reduce: str = "sum"  # the view-pair terms of Eq. 3: sum (lambda counts each) | mean
    contrastive_items: int = 1024  # items per domain in one contrastive step
    # the Table-1 baselines' own objectives (docs/trainer.md "Baselines"; the defaults of their papers)
    cl4srec_weight: float = 0.1  # CL4SRec: weight of the contrastive task
    cl4srec_tau: float = 1.0
    cl4srec_crop: float = 0.6  # eta: the share of a sequence a crop keeps
    cl4srec_mask: float = 0.3  # gamma: the share masked
    cl4srec_reorder: float = 0.6  # beta: the share of a sequence a reorder shuffles
    c2dsr_lambda: float = 0.7  # C2DSR: lambda * rec + (1 - lambda) * infomax
    c2dsr_shared: bool = True  # C2DSR: the mixed state alone trained on each step too
    tricdr_cl_weight: float = 1.0  # Tri-CDR: coarse-grained NT-Xent weight
    tricdr_tau: float = 0.1
    tricdr_triplet_weight: float = 1.0  # Tri-CDR: fine-grained triplet weight
    tricdr_margin: float = 1.0
    epochs: int = 300  # a cap that converged runs do not reach (runs record whether they hit it)
    eval_every: int = 5  # epochs between validations
    patience: int = 6  # validations without a better selection metric before stopping
    select_metric: str = "sampled:ndcg@10"  # protocol:metric of the validation split
    threads: int = 0  # torch threads; 0 = the cores not busy now (see trainer.threads)
    seed: int = 42
    # evaluation (paper protocol: 100 sampled negatives; seeded so every model sees the same ones)
    eval_negatives: int = 100
    eval_seed: int = 2024
    eval_batch_size: int = 1024
    # semantic inputs (None: the latest taxonomy / the embedding model with most vectors)
    taxonomy_id: int | None = None
    embedding_model: str | None = None
    device: str = "auto"
    preset: str = ""  # the named set of keys this run started from (trainer/presets.py); "" = none

    def __post_init__(self) -> None:
        if isinstance(self.ablation, str):
            self.ablation = [self.ablation]
        self.ablation = sorted(
            {a.strip() for item in self.ablation for a in str(item).split(",") if a.strip()}
        )

    # -- switches ---------------------------------------------------------------------------------
    def has(self, ablation: str) -> bool:
        return ablation in self.ablation

    @property
    def use_inner(self) -> bool:
        semantic = self.model == "semacdr" or self.semantics
        return semantic and not (self.has("no-semantics") or self.has("no-inner-semantics"))

    @property
    def use_agnostic(self) -> bool:
        semantic = self.model == "semacdr" or self.semantics
        return semantic and not (self.has("no-semantics") or self.has("no-agnostic-semantics"))

    @property
    def loss_kind(self) -> str:
        if self.loss != "auto":
            return self.loss
        return "bpr" if self.model == "semacdr" else "softmax"

    def encoder_args(self) -> dict:
        """Keyword arguments of ``modules.SequenceEncoder`` (Eqs. 7-9)."""
        return {
            "hidden": self.hidden,
            "max_len": self.max_len,
            "blocks": self.n_blocks,
            "heads": self.n_heads,
            "dropout": self.dropout,
            "positions": self.positions,
            "branch_dropout": self.branch_dropout,
            "init": self.init,
            "pack": self.pack_tokens,
        }

    def _check_choices(self) -> None:
        choices = {
            "agnostic_integration": ("concat", "mean"),
            "score": ("dot", "mlp"),
            "positions": ("recency", "forward"),
            "init": ("xavier", "legacy"),
            "graph_edges": ("window", "source-mixed"),
            "loss": ("auto", "bpr", "bce", "softmax", "full"),
            "softmax_pool": ("shared", "exclude-positive"),
            "contrastive_positives": ("diagonal", "label-groups"),
            "contrastive_reduce": ("sum", "mean"),
            "graph_shortcut": ("keep", "leave-batch-out", "score-base"),
            "loss_norm": ("instance", "batch"),
            "batching": ("shuffle", "bucket"),
            "encoders": ("separate", "grouped"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SemacdrError(f"{name}: must be one of {', '.join(allowed)}")
        if self.graph_shortcut == "leave-batch-out" and self.has("simple-graph"):
            raise SemacdrError(
                "graph_shortcut: leave-batch-out needs the clique graphs (not with simple-graph)"
            )

    def _check_baseline_keys(self) -> None:
        for name in ("cl4srec_crop", "cl4srec_mask", "cl4srec_reorder", "c2dsr_lambda"):
            if not 0 < getattr(self, name) <= 1:
                raise SemacdrError(f"{name}: must be in (0, 1]")
        for name in ("cl4srec_tau", "tricdr_tau"):
            if getattr(self, name) <= 0:
                raise SemacdrError(f"{name}: must be positive")

    def validate(self) -> TrainConfig:
        if self.preset and self.preset not in PRESETS:  # first: an unknown preset explains the rest
            raise SemacdrError(f"--preset: unknown preset {self.preset!r} (choose from {', '.join(PRESETS)})")
        if self.model not in MODELS:
            raise SemacdrError(f"--model: unknown model {self.model!r} (choose from {', '.join(MODELS)})")
        for a in self.ablation:
            if a not in ABLATIONS:
                raise SemacdrError(f"--ablation: unknown switch {a!r} (choose from {', '.join(ABLATIONS)})")
        semantic_switches = {"no-inner-semantics", "no-agnostic-semantics", "no-contrastive"}
        if (
            self.ablation
            and self.model != "semacdr"
            and not (self.semantics and set(self.ablation) <= semantic_switches)
        ):
            raise SemacdrError(
                "--ablation applies to --model semacdr (and the semantic switches to a baseline "
                "with semantics = true)"
            )
        if self.semantics and self.model == "semacdr":
            raise SemacdrError(
                "semantics: applies to the baselines (semacdr always has its semantic component)"
            )
        if self.semantics and self.model not in SEMANTIC_PLUGIN:
            raise SemacdrError(
                f"semantics: model {self.model} has no semantic plug-in (it has: {', '.join(SEMANTIC_PLUGIN)})"
            )
        if not self.target:
            raise SemacdrError("--target: give the target domain")
        if self.model not in SINGLE_DOMAIN and not self.source:
            raise SemacdrError(f"--source: model {self.model} needs a source domain")
        if self.source and self.source == self.target:
            raise SemacdrError("--source and --target must be different domains")
        for name in (
            "hidden",
            "max_len",
            "n_blocks",
            "n_heads",
            "batch_size",
            "epochs",
            "patience",
            "micro_batches",
            "negatives",
        ):
            if getattr(self, name) < 1:
                raise SemacdrError(f"{name}: must be at least 1")
        if self.hidden % self.n_heads:
            raise SemacdrError("hidden must be divisible by n_heads")
        if not 0 <= self.dropout < 1:
            raise SemacdrError("dropout: must be in [0, 1)")
        self._check_choices()
        protocol, _, metric = self.select_metric.partition(":")
        if protocol not in ("sampled", "full") or metric not in ("hr@5", "hr@10", "ndcg@5", "ndcg@10"):
            raise SemacdrError("select_metric: PROTOCOL:METRIC, e.g. sampled:ndcg@10 or full:ndcg@10")
        if self.eval_every < 1:
            raise SemacdrError("eval_every: must be at least 1")
        self._check_baseline_keys()
        if self.micro_batch_cost < 0:
            raise SemacdrError("micro_batch_cost: must be 0 or more")
        if self.threads < 0:
            raise SemacdrError("--threads: must be 0 (automatic) or more")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise SemacdrError("--device: auto, cpu or cuda")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "config") -> TrainConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in data.items():
            key = key.replace("-", "_")
            if key not in known:
                raise SemacdrError(f"unknown config key {key!r}", path=where)
            default = known[key].default
            typed = isinstance(default, bool | int | float | str) and value is not None
            if typed and not fits(default, value):
                raise SemacdrError(
                    f"config key {key!r}: expected {type(default).__name__}, got {value!r}", path=where
                )
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - dataclass signature errors
            raise SemacdrError(str(exc), path=where) from None

    @classmethod
    def stored(cls, data: dict) -> TrainConfig:
        """A run's recorded config; a key it predates takes the value the run trained with (``LEGACY``)."""
        return cls.from_dict({**LEGACY, **data}, where="the run's recorded config")

    def with_overrides(self, **overrides) -> TrainConfig:
        values = self.to_dict()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return TrainConfig.from_dict(values)


def load_config(path: str | Path | None, preset: str | None = None, **overrides) -> TrainConfig:
    """Defaults, then the preset's keys, then the TOML file, then command-line overrides (None means not
    given). The preset may also come from the file (``preset = "paper"``); the command line's wins."""
    data: dict = {}
    where = "config"
    if path is not None:
        p = Path(path)
        data = read_toml(p)
        if "train" in data and isinstance(data["train"], dict):
            data = data["train"]
        where = str(p)
    name = preset if preset is not None else data.get("preset", DEFAULT_PRESET)
    if not isinstance(name, str):
        raise SemacdrError(f"config key 'preset': expected str, got {name!r}", path=where)
    keys = PRESETS.get(name, {})
    cfg = TrainConfig.from_dict({**keys, **data, "preset": name}, where=where).with_overrides(**overrides)
    given = "graph_shortcut" in data or overrides.get("graph_shortcut") is not None
    if cfg.has("simple-graph") and keys.get("graph_shortcut") == "leave-batch-out" and not given:
        cfg = cfg.with_overrides(graph_shortcut="keep")  # SimpGraph's chain graph has no windows to leave out
    return cfg.validate()
