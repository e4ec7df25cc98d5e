"""The term-frequency outlier filter (App. C): rare labels dropped or re-generated, odd descriptions
re-generated or dropped, every decision recorded in annotations.outliers."""

from __future__ import annotations

import json

from doubles import FakeBackend, title_of
from semantic_fixtures import make_store

from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.annotate.outliers import description_verdict, domain_stats, terms
from semacdr_cli.config import AnnotateConfig, OutlierConfig

N = 24


def answer(labels: dict, description: str) -> str:
    return json.dumps({"labels": labels, "description": description})


def common(title: str) -> dict:
    return {"Target Audience": ["Adults"], "Occasion": ["Everyday"], "Lifestyle": ["Healthy"]}


def responder(special: dict):
    """Every item gets the same common labels and a description from its title; `special` maps a
    title substring to a callable(chat, constraint) -> answer."""

    def respond(chat, constraint):
        t = title_of(chat)
        for marker, fn in special.items():
            if marker in t:
                return fn(chat, constraint)
        return answer(common(t), f"Tasty {t}")

    return respond


def run(tmp_path, special, **outlier_kw):
    store = make_store(tmp_path / "s.db", n_food=N)
    outlier_kw.setdefault("min_items", 10)
    fake = FakeBackend(responder=responder(special))
    s = annotate_domain(
        store,
        1,
        fake,
        AnnotateConfig(method="generate", domain="food", batch_size=8, outliers=OutlierConfig(**outlier_kw)),
    )
    return store, fake, s


def row_for(store, marker):
    return store.one(
        "SELECT a.* FROM annotations a JOIN items i ON i.id = a.item_id WHERE i.title LIKE ?",
        (f"%{marker}%",),
    )


def test_a_rare_label_is_dropped_when_the_item_keeps_another_label_in_that_category(tmp_path):
    special = {
        "variant 3": lambda c, k: answer({**common(""), "Occasion": ["Everyday", "Party"]}, "Tasty variant 3")
    }
    store, _, s = run(tmp_path, special)
    r = row_for(store, "variant 3")
    assert json.loads(r["labels"])["Occasion"] == ["Everyday"]
    rec = json.loads(r["outliers"])
    assert rec["action"] == "dropped-labels" and rec["dropped_labels"] == [["Occasion", "Party"]]
    assert s.filtered == 1 and s.regenerated == 0
    party = store.one("SELECT count(*) FROM annotation_labels l JOIN taxonomy_subcategories s ON s.id = l.subcategory_id "
                      "WHERE s.name = 'Party'")[0]  # fmt: skip
    assert party == 0


def test_an_items_only_rare_label_triggers_regeneration_without_it(tmp_path):
    def odd(chat, constraint):
        allowed = constraint.json_schema["properties"]["labels"]["properties"]["Occasion"]["items"]["enum"]
        occ = "Gift" if "Gift" in allowed else "Everyday"
        return answer({**common(""), "Occasion": [occ]}, "Tasty variant 5")

    store, fake, _ = run(tmp_path, {"variant 5": odd})
    r = row_for(store, "variant 5")
    assert json.loads(r["labels"])["Occasion"] == ["Everyday"]
    rec = json.loads(r["outliers"])
    assert rec["regenerated"] is True and "regenerated-labels" in rec["action"]
    assert rec["rare_labels"] == [["Occasion", "Gift"]]
    regen_chat, regen_constraint = [c for c in fake.calls if "variant 5" in title_of(c[0])][-1]
    assert (
        "Gift"
        not in regen_constraint.json_schema["properties"]["labels"]["properties"]["Occasion"]["items"]["enum"]
    )
    assert "filtered as an outlier" in regen_chat[-1]["content"]
    assert r["attempts"] == 2


def test_a_description_of_mostly_rare_words_is_regenerated_and_dropped_when_still_odd(tmp_path):
    weird = "Quantum zebra hovercraft astrophysics saxophone galaxy"
    store, _, _ = run(tmp_path, {"variant 7": lambda c, k: answer(common(""), weird)})
    r = row_for(store, "variant 7")
    rec = json.loads(r["outliers"])
    assert rec["rare_term_share"] > 0.5
    assert r["description"] is None and "dropped-description" in rec["action"]
    assert json.loads(r["labels"]) == common("")  # the labels stay


def test_a_regenerated_description_that_fits_replaces_the_odd_one(tmp_path):
    weird = "Quantum zebra hovercraft astrophysics saxophone galaxy"
    calls = {"n": 0}

    def first_weird(chat, constraint):
        calls["n"] += 1
        return answer(common(""), weird if calls["n"] == 1 else "Tasty variant 9 snack")

    store, _, _ = run(tmp_path, {"variant 9": first_weird})
    r = row_for(store, "variant 9")
    assert r["description"] == "Tasty variant 9 snack"
    assert "regenerated-description" in json.loads(r["outliers"])["action"]


def test_filter_waits_for_enough_items_and_checks_them_on_a_later_run(tmp_path):
    store = make_store(tmp_path / "s.db", n_food=N)
    special = {
        "variant 3": lambda c, k: answer({**common(""), "Occasion": ["Everyday", "Party"]}, "Tasty variant 3")
    }
    ocfg = OutlierConfig(min_items=N)
    s = annotate_domain(store, 1, FakeBackend(responder=responder(special)),
                        AnnotateConfig(method="generate", domain="food", limit=10, outliers=ocfg))  # fmt: skip
    assert s.outlier_check.startswith("skipped")
    assert json.loads(row_for(store, "variant 3")["outliers"])["checked"] is False
    s = annotate_domain(
        store,
        1,
        FakeBackend(responder=responder(special)),
        AnnotateConfig(method="generate", domain="food", outliers=ocfg),
    )
    rec = json.loads(row_for(store, "variant 3")["outliers"])
    assert rec["checked"] is True and rec["dropped_labels"] == [["Occasion", "Party"]]
    unchecked = [
        r for r in store.query("SELECT outliers FROM annotations") if not json.loads(r[0])["checked"]
    ]
    assert unchecked == []


def test_outlier_rule_thresholds_follow_the_flags():
    from semacdr_cli.config import OutlierConfig

    pairs = [({"A": ["x"]}, "red apple pie")] * 9 + [({"A": ["y"]}, "red apple tart")]
    assert domain_stats(pairs, OutlierConfig(min_label_count=2)).rare_labels({"A": ["y"]}) == [("A", "y")]
    assert domain_stats(pairs, OutlierConfig(min_label_count=1)).rare_labels({"A": ["y"]}) == []
    st = domain_stats(pairs, OutlierConfig())
    assert terms("The red apple") == {"red", "apple"}
    rare, _, out = description_verdict("zebra quantum tart red", "title", st, OutlierConfig())
    assert rare == ["quantum", "tart", "zebra"] and out is True
    _, _, out = description_verdict("zebra quantum tart red", "zebra quantum tart", st, OutlierConfig())
    assert out is False  # words from the item's own text are never rare
