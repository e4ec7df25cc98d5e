"""Fuzzing item text into prompts: whatever an item's title, description, category path or brand
holds (delimiters, entities, control characters, 100k-character titles), every prompt that carries
it keeps its shape: one opening and one closing delimiter in place, the item on lines of its own
kind, no hidden characters, a bounded length."""

from __future__ import annotations

import json
import re

import pytest
from fuzzing import NASTY, any_text, examples, nasty_text
from hypothesis import given
from hypothesis import strategies as st

from semacdr_cli.annotate.item_text import item_text, taxonomy_prompt_text
from semacdr_cli.prompting import load_template, untrusted_text
from semacdr_cli.taxonomy.asking import _item_line
from semacdr_cli.taxonomy.facets import _line

pytestmark = pytest.mark.fuzz

HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
TREE = [{"name": "Occasion", "subcategories": [{"name": "Gift"}, {"name": "Everyday"}]}]
entities = st.sampled_from(["&#10;", "&#13;", "&#x0A;", "&lt;", "&gt;", "&#60;", "&#x3c;", "&amp;lt;", "&#0;",
                            "&#x202e;", "&#27;", "&NewLine;", "&Tab;", "&#x2028;", "&nbsp;"])  # fmt: skip
field = st.one_of(
    st.none(), any_text, nasty_text,
    st.lists(st.one_of(entities, st.sampled_from(NASTY), st.text(max_size=5)), max_size=12).map("".join),
    st.integers(100, 100_000).flatmap(lambda n: st.sampled_from("a<&\n").map(lambda c: c * n)),
)  # fmt: skip
categories = st.one_of(st.none(), field, st.lists(st.one_of(field, st.lists(field, max_size=3)), max_size=4).map(
    lambda v: json.dumps([x for x in v if x is not None])))  # fmt: skip
rows = st.fixed_dictionaries({"title": field, "description": field, "categories": categories, "brand": field})


def assert_clean_line(text: str) -> None:
    assert "\n" not in text and "\r" not in text
    assert "<" not in text and ">" not in text
    assert not HIDDEN.search(text)


@examples(300)
@given(text=field, cap=st.integers(0, 1000))
def test_untrusted_text_is_one_clean_line_within_its_cap(text, cap):
    out = untrusted_text(text, cap)
    assert len(out) <= cap
    assert_clean_line(out)
    assert out == out.strip() or len(out) == cap  # collapsed whitespace, cut only at the cap


@examples(200)
@given(row=rows)
def test_an_item_cannot_close_or_reopen_its_delimiter_in_any_annotation_prompt(row):
    text = item_text(row)
    lines = text.split("\n")
    assert 1 <= len(lines) <= 4 and lines[0].startswith("Title: ")
    assert all(ln.split(": ", 1)[0] in {"Title", "Description", "Category path", "Brand"} for ln in lines)
    for ln in lines:
        assert_clean_line(ln)
    assert len(text) <= 200 + 600 + 200 + 60 + 60
    for name in ("annotate", "annotate_score", "describe"):
        chat = load_template(name).render(domain="food", item=text, taxonomy=taxonomy_prompt_text(TREE),
                                          max_description_chars=300, feedback="")  # fmt: skip
        user = chat[-1]["content"]
        assert user.count("<item>") == 1 and user.count("</item>") == 1
        inner = user.split("<item>", 1)[1].split("</item>", 1)[0]
        assert inner.strip() == text.strip()


@examples(200)
@given(rows_=st.lists(rows, min_size=1, max_size=5), domain=st.sampled_from(["food", "kitchen"]))
def test_item_lines_of_taxonomy_prompts_stay_one_line_each_inside_items(rows_, domain):
    lines = [_item_line(r, domain) for r in rows_]
    facet_lines = [_line(domain, r) for r in rows_]
    for ln in lines + facet_lines:
        assert ln.startswith("- ")
        assert_clean_line(ln)
        assert len(ln) <= 2 + len(f"[{domain}] ") + 160 or ln in facet_lines
    chat = load_template("taxonomy_propose").render(source="food", target="kitchen", items="\n".join(lines),
                                                    n_categories=3)  # fmt: skip
    user = chat[-1]["content"]
    assert user.count("<items>") == 1 and user.count("</items>") == 1
    inner = user.split("<items>", 1)[1].split("</items>", 1)[0].strip().split("\n")
    assert [x.strip() for x in inner] == [ln.strip() for ln in lines]
