"""Per-stage seconds of a training epoch (collation, graph convolutions, each sequence encoder,
backward + optimiser step, validation), measured on a sample of steps with forward hooks."""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

MODULES = (
    "gcn_source",
    "gcn_target",
    "gcn_mixed",
    "enc_source",
    "enc_target",
    "enc_mixed",
    "cross",
    "encoder",
    "source_encoder",
)


def stage_breakdown(model, data, cfg, steps: int = 20) -> dict[str, float]:
    """Seconds per epoch of each stage, extrapolated from ``steps`` training steps; validation is
    one validation divided by ``cfg.eval_every`` (it runs every ``eval_every`` epochs)."""
    import torch

    from trainer.evaluate import evaluate_model
    from trainer.loop import make_batches, make_optimizer, step_parts, steps_per_batch

    times: dict[str, float] = defaultdict(float)
    hooks = []
    for name in MODULES:
        module = getattr(model, name, None)
        if module is None:
            continue

        def pre(m, _inp, name=name):
            m._bench_t0 = time.perf_counter()

        def post(m, _inp, _out, name=name):
            times[f"forward: {name}"] += time.perf_counter() - m._bench_t0

        hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    if hasattr(model, "encoder_group"):  # grouped encoders run no module hooks: time encode as a whole
        encode = model.encode

        def timed_encode(*a, **k):
            t0 = time.perf_counter()
            out = encode(*a, **k)
            times["forward: encode (encoders, cross, fusion)"] += time.perf_counter() - t0
            return out

        model.encode = timed_encode
    model.train()
    model.steps_per_batch = steps_per_batch(data.train, cfg.batch_size)
    opt = make_optimizer(model, cfg)
    rng = np.random.default_rng(0)
    batches = make_batches(rng.permutation(len(data.train)), data.train, cfg, rng)
    sample = batches[:steps]
    for idx in sample:
        t = time.perf_counter()
        batch = step_parts(idx, data, cfg, rng)
        times["collation"] += time.perf_counter() - t
        t = time.perf_counter()
        out = model(batch)
        times["forward: total"] += time.perf_counter() - t
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        times["backward + step"] += time.perf_counter() - t
    for h in hooks:
        h.remove()
    model.__dict__.pop("encode", None)
    scale = len(batches) / max(1, len(sample))
    per_epoch = {k: v * scale for k, v in times.items()}
    t = time.perf_counter()
    with torch.no_grad():
        evaluate_model(model, data, cfg, "valid", protocols=("sampled",))
    per_epoch["validation (per epoch)"] = (time.perf_counter() - t) / cfg.eval_every
    return dict(per_epoch)
