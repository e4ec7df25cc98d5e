"""Named sets of training keys (``semacdr train --preset NAME``), applied over ``TrainConfig``'s defaults
and under a TOML file's and the command line's keys. docs/trainer.md "Presets" says what each is for.

- ``paper``: the paper-literal reading as this harness first implemented it: BPR with one uniform
  negative for SemaCDR (Eq. 13; the baselines' sampled softmax), Eq. 3 with the diagonal as the only
  positive and its view-pair terms summed, the target graph as built from every training window,
  the user embedding in the fusion (Eq. 11), selection on sampled NDCG@10. These are also the values
  of every key below in a run recorded before the key existed (``LEGACY``).
- ``fixes``: every change of the issue "SemaCDR that earns its place" at once (the combination arm of
  its A/B, docs/trainer.md "A/B"): full softmax, Eq. 3 over label groups with the terms averaged, the
  batch's own window edges left out of the target graph, no user embedding in the fusion, selection
  on full-ranking NDCG@10.

``TrainConfig``'s defaults are the paper's values (``paper`` is them spelled out); a run that names no
preset (neither ``--preset`` nor its TOML file) starts from ``DEFAULT``, the best measured: ``fixes``,
above ``paper`` in both directions of the A/B (docs/trainer.md "A/B"). ``--preset paper`` keeps the old
values reachable.
"""

from __future__ import annotations

PAPER: dict = {
    "loss": "auto",
    "negatives": 1,
    "softmax_pool": "shared",
    "contrastive_positives": "diagonal",
    "contrastive_reduce": "sum",
    "graph_shortcut": "keep",
    "fusion_user": True,
    "select_metric": "sampled:ndcg@10",
}

PRESETS: dict[str, dict] = {
    "paper": PAPER,
    "fixes": {
        "loss": "full",
        "negatives": 1,
        "softmax_pool": "exclude-positive",
        "contrastive_positives": "label-groups",
        "contrastive_reduce": "mean",
        "graph_shortcut": "leave-batch-out",
        "fusion_user": False,
        "select_metric": "full:ndcg@10",
    },
}

DEFAULT = "fixes"  # the preset of a run that names none

# a run recorded before a key existed trained with this value of it
LEGACY: dict = {k: v for k, v in PAPER.items() if k != "select_metric"} | {"preset": ""}
