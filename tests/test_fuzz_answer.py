"""Fuzzing the answer contract of ``annotate --method generate``: whatever text a model returns, the
check either accepts an answer whose every label is in the taxonomy or rejects it with a reason;
it never raises, and its fast path agrees with jsonschema. End to end, answers drawn at random
and stored through the annotate job leave no label outside the taxonomy."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from doubles import FakeBackend
from fuzzing import NASTY, any_text, examples, json_values
from hypothesis import given
from hypothesis import strategies as st
from semantic_fixtures import TAXONOMY, make_store

from semacdr_cli.annotate.answer import annotation_schema, check_answer
from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.config import AnnotateConfig, OutlierConfig
from semacdr_cli.prompting import load_schema

pytestmark = pytest.mark.fuzz

TREE = [{"name": c["name"], "subcategories": [{"id": 10 * i + j, "name": s} for j, s in enumerate(c["subcategories"])]}
        for i, c in enumerate(TAXONOMY)]  # fmt: skip
IDS = {(c["name"], s["name"]): s["id"] for c in TREE for s in c["subcategories"]}
SCHEMA = annotation_schema(load_schema("annotate"), TREE, max_labels=3, max_description_chars=300)
CATS = [c["name"] for c in TAXONOMY]
SUBS = sorted({s for c in TAXONOMY for s in c["subcategories"]})


def near_label(name: str):
    """A label name, or one a model might write instead of it (case, spacing, another category's)."""
    return st.one_of(
        st.just(name), st.just(name.lower()), st.just(f" {name} "), st.just(name + "s"),
        st.sampled_from(SUBS), st.sampled_from(NASTY), any_text,
    )  # fmt: skip


@st.composite
def near_answers(draw):
    """An answer object close to a valid one: each part is valid most of the time, else dropped,
    retyped or replaced by what a model might write instead."""
    labels = {}
    for c in TAXONOMY:
        kind = draw(st.integers(0, 19))
        if kind == 0:
            continue  # a category left out
        if kind < 15:
            labels[c["name"]] = draw(
                st.lists(st.sampled_from(c["subcategories"]), min_size=1, max_size=3, unique=True)
            )
        elif kind < 18:
            labels[c["name"]] = draw(
                st.lists(st.sampled_from(c["subcategories"]).flatmap(near_label), max_size=4)
            )
        else:
            labels[c["name"]] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        labels[draw(st.one_of(st.sampled_from(CATS).map(str.upper), any_text))] = draw(json_values)
    valid_text = st.text(min_size=1, max_size=300).filter(str.strip)
    obj = {
        "labels": labels,
        "description": draw(st.one_of(valid_text, valid_text, valid_text, any_text, json_values)),
    }
    if draw(st.integers(0, 9)) == 0:
        obj[draw(any_text)] = draw(json_values)
    return obj


def as_model_text(obj, cut: int | None, wrap: str | None) -> str:
    """The object as a model might print it: JSON, maybe cut off, maybe inside prose or a fence."""
    text = json.dumps(obj, ensure_ascii=False)
    if cut is not None:
        text = text[: cut % (len(text) + 1)]
    return wrap.replace("@", text) if wrap else text


answers_text = st.one_of(
    any_text,
    json_values.map(json.dumps),
    st.builds(as_model_text, near_answers(), st.none() | st.integers(0, 10_000),
              st.none() | st.sampled_from(["```json\n@\n```", "Sure! @", "@ @", "[@]", "{\"answer\": @}"])),
    st.integers(1, 100_000).map(lambda n: "[" * n),  # nesting past the parser's recursion limit
    st.integers(1, 100_000).map(lambda n: "{\"a\":" * n + "1" + "}" * n),
)  # fmt: skip


def assert_inside_taxonomy(result: dict) -> None:
    assert set(result["labels"]) == set(CATS)
    for cat, subs in result["labels"].items():
        assert 1 <= len(subs) <= 3 and len(set(subs)) == len(subs)
        assert all((cat, s) in IDS for s in subs)
    assert isinstance(result["description"], str) and result["description"].strip()
    assert len(result["description"]) <= 300


@examples(400)
@given(text=answers_text, finish=st.sampled_from([None, "stop", "length"]))
def test_any_model_text_is_accepted_inside_the_taxonomy_or_rejected_with_a_reason(text, finish):
    for fast in (False, True):
        result, reason = check_answer(text, SCHEMA, IDS, finish, fast=fast)
        if result is None:
            assert isinstance(reason, str) and reason.strip()
        else:
            assert reason == ""
            assert_inside_taxonomy(result)


@examples(300)
@given(obj=near_answers())
def test_the_fast_check_and_jsonschema_agree_on_every_drawn_answer(obj):
    text = json.dumps(obj, ensure_ascii=False)
    slow = check_answer(text, SCHEMA, IDS)
    fast = check_answer(text, SCHEMA, IDS, fast=True)
    assert slow[0] == fast[0]
    assert (slow[1] == "") == (fast[1] == "")


@examples(12)
@given(replies=st.lists(answers_text | near_answers().map(json.dumps), min_size=1, max_size=30))
def test_annotating_with_any_model_replies_stores_only_taxonomy_labels(replies):
    """The annotate job over a store, each prompt answered by the next drawn reply (a retry gets the
    next one): every stored item is ok with taxonomy labels or failed with a reason."""
    queue = list(replies)

    def responder(chat, constraint):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp) / "s.db")
        cfg = AnnotateConfig(method="generate", domain="food", batch_size=3, retries=1,
                             outliers=OutlierConfig(enabled=False))  # fmt: skip
        annotate_domain(store, 1, FakeBackend(responder=responder), cfg)
        rows = store.query("SELECT status, labels, failure_reason FROM annotations")
        assert len(rows) == 8
        for r in rows:
            if r["status"] == "ok":
                labels = json.loads(r["labels"])
                assert all((c, s) in IDS for c, subs in labels.items() for s in subs)
            else:
                assert r["failure_reason"]
        stored = store.query(
            "SELECT c.name AS cat, s.name AS sub FROM annotation_labels l JOIN taxonomy_subcategories s "
            "ON s.id = l.subcategory_id JOIN taxonomy_categories c ON c.id = s.category_id"
        )
        assert all((r["cat"], r["sub"]) in IDS for r in stored)
        store.close()
