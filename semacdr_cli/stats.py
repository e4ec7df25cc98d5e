"""`semacdr data stats`: the paper's Table 4 view of a dataset, read from the store."""

from __future__ import annotations

import json

from semacdr_cli.store import Store
from semacdr_cli.store import interactions as q


def dataset_stats(store: Store, name: str | None = None) -> dict:
    """``{"dataset", "synthetic", "format", "overlapped_users", "domains": {name: {"users", "items",
    "interactions", "avg_len", "splits": {"train", "valid", "test"}, "annotated", "failed",
    "embedded"}}, "preprocessing"}`` for the dataset ``name`` (default: the latest import)."""
    ds = store.dataset(name)
    params = json.loads(ds["params"]) if ds["params"] else {}
    return {
        "dataset": ds["name"],
        "synthetic": bool(ds["synthetic"]),
        "format": ds["format"],
        "overlapped_users": q.overlapped_users(store, ds["id"]),
        "domains": q.domain_stats(store, ds["id"]),
        "preprocessing": params.get("preprocessing"),
        "split_rule": params.get("split_rule"),
    }
