"""The prefill-only scorer and the prefix-cached generator on the real SmolLM2-135M (transformers)."""

from __future__ import annotations

import pytest
from llm_fixtures import smollm2_path  # noqa: F401  (fixture)

from semacdr_cli.llm.base import Question, SamplingConfig

pytestmark = pytest.mark.slow

QUESTIONS = [Question("Genre:", (" Horror", " Romance", " Science Fiction", " Science", " Crime")),
             Question("Audience:", (" Children", " Adults", " Teens"))]  # fmt: skip
ITEMS = ["The Haunting of Hill House. A chilling horror novel.", "Love in Paris. A heartwarming romance.",
         "Goodnight Bunny. A picture book for young children."]  # fmt: skip


def chat(title: str) -> list[dict]:
    return [{"role": "system", "content": "You label items."},
            {"role": "user", "content": f"Taxonomy: Genre, Audience\n\nItem:\nTitle: {title}"}]  # fmt: skip


@pytest.fixture(scope="module")
def backend(smollm2_path):  # noqa: F811
    from semacdr_cli.llm.transformers_backend import TransformersBackend

    b = TransformersBackend(smollm2_path, dtype="float32", batch_size=2, threads=2)
    yield b
    b.close()


def test_tree_scores_equal_the_log_probabilities_of_full_sequences(backend):
    import torch

    from semacdr_cli.llm.option_trie import question_tokens, scoring_paths

    got = backend.score([chat(t) for t in ITEMS], QUESTIONS)
    tok, model = backend.tokenizer, backend.hf_model

    def enc(s):
        return tok(s, add_special_tokens=False)["input_ids"]

    for title, scores in zip(ITEMS, got, strict=True):
        base = enc(backend.render(chat(title)))
        for qi, q in enumerate(QUESTIONS):
            cue, opts = question_tokens(enc, q.cue, q.options)
            for oi, path in enumerate(scoring_paths(opts)):
                ids = base + cue + path
                with torch.inference_mode():
                    lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
                n = len(ids)
                want = sum(float(lp[n - len(path) - 1 + k, path[k]]) for k in range(len(path)))
                assert scores.logprobs[qi][oi] == pytest.approx(want, abs=2e-3)
    genre = [max(range(5), key=lambda o: s.logprobs[0][o]) for s in got]
    assert genre[:2] == [0, 1]  # horror, romance
    assert max(range(3), key=lambda o: got[2].logprobs[1][o]) == 0  # a picture book is for children


def test_prefix_cached_generation_matches_transformers_generate_and_stops_at_a_newline(backend):
    chats = [chat(t) + [{"role": "assistant", "content": "Genre:"}] for t in ITEMS]
    sampling = SamplingConfig(max_tokens=12, stop=("\n",))
    fast = backend.generate(chats, None, sampling)
    ref = backend._generate_batch([backend.render(c) for c in chats], None, sampling)
    assert all("\n" not in g.text and g.tokens_out >= 1 for g in fast)
    assert sum(a.text == b.text for a, b in zip(fast, ref, strict=True)) >= 2
    assert all(g.finish_reason in ("stop", "length") for g in fast)
