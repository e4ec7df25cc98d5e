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
    "cl4srec": ("trainer.models.cl4srec", "CL4SRec"),
    "c2dsr": ("trainer.models.c2dsr", "C2DSR"),
    "tri-cdr": ("trainer.models.tri_cdr", "TriCDR"),
}
SINGLE_DOMAIN = ("sasrec", "cl4srec")  # read the target domain only (no --source)
SEMANTIC_PLUGIN = ("sasrec", "cd-sasrec", "cl4srec", "tri-cdr")  # take ``semantics = true`` (Table 2)


def build_model(config, data, graphs):
    """The model named by ``config.model`` for ``data`` (graphs from ``trainer.graphs.build``)."""
    module, name = REGISTRY[config.model]
    return getattr(importlib.import_module(module), name)(config, data, graphs)
