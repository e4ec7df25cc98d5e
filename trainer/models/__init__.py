"""The models of the harness: SemaCDR and the baselines, built by name.

A new baseline is one module with a ``SeqRecModel`` subclass (constructor ``(config, data, graphs)``)
plus one line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib

# model name -> (module, class)
REGISTRY: dict[str, tuple[str, str]] = {
    "semacdr": ("trainer.models.semacdr", "SemaCDR"),
    "sasrec": ("trainer.models.sasrec", "SASRec"),
    "cd-sasrec": ("trainer.models.cd_sasrec", "CDSASRec"),
}


def build_model(config, data, graphs):
    """The model named by ``config.model`` for ``data`` (graphs from ``trainer.graphs.build``)."""
    module, name = REGISTRY[config.model]
    return getattr(importlib.import_module(module), name)(config, data, graphs)
