"""The models of the harness: SemaCDR and the baselines, built by name."""

from __future__ import annotations


def build_model(config, data, graphs):
    """The model named by ``config.model`` for ``data`` (graphs from ``trainer.graphs.build``)."""
    if config.model == "sasrec":
        from trainer.models.sasrec import SASRec

        return SASRec(config, data)
    if config.model == "cd-sasrec":
        from trainer.models.cd_sasrec import CDSASRec

        return CDSASRec(config, data)
    from trainer.models.semacdr import SemaCDR

    return SemaCDR(config, data, graphs)
