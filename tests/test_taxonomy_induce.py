"""taxonomy induce: propose -> merge -> refine, normalisation, validation and the deterministic fallback."""

from __future__ import annotations

import json

import pytest
from doubles import FakeBackend
from semantic_fixtures import make_store

from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import semantic as sem
from semacdr_cli.taxonomy.files import taxonomy_document
from semacdr_cli.taxonomy.induce import induce_taxonomy
from semacdr_cli.taxonomy.rules import (
    consolidate_proposals,
    name_key,
    normalize_categories,
    normalize_name,
    validate_categories,
)


def cfg(**kw) -> TaxonomyConfig:
    kw.setdefault("sample", 6)
    kw.setdefault("minibatch", 4)
    kw.setdefault("method", "propose")
    return TaxonomyConfig(source="food", target="kitchen", **kw)


PROPOSAL = {
    "categories": [
        {"name": "target audiences", "subcategories": ["Kids", "adults", "Adults ", "Families"]},
        {"name": "Occasion", "subcategories": ["Everyday", "Holidays", "Party"]},
        {"name": "Food", "subcategories": ["Snacks", "Drinks", "Meals"]},
        {"name": "Price range", "subcategories": ["Budget", "Premium"]},
    ]
}


def k_categories(k, first="Audience"):
    names = [first, "Occasion", "Style", "Price", "Usage", "Quality", "Origin", "Mood", "Season"][:k]
    return json.dumps(
        {
            "categories": [
                {"name": n, "subcategories": [f"{n} {x}" for x in ("Low", "Mid", "High")]} for n in names
            ]
        }
    )


def test_names_are_normalised_for_case_whitespace_and_plurals():
    assert normalize_name("  target   AUDIENCES. ") == "Target Audiences"
    assert name_key("Target Audiences") == name_key("target audience") == "target audience"
    assert name_key("Berries") == "berry" and name_key("Dishes") == "dish" and name_key("Glass") == "glass"
    cats = normalize_categories([
        {"name": "Occasions", "subcategories": ["Party", "parties ", "Holiday"]},
        {"name": "occasion", "subcategories": ["Gift"]},
    ])  # fmt: skip
    assert cats == [{"name": "Occasions", "subcategories": ["Party", "Holiday", "Gift"]}]


def test_validation_rules_catch_count_size_duplicates_and_domain_names():
    ok = [
        {"name": n, "subcategories": [f"{n} {x}" for x in ("a", "b", "c")]} for n in ("Audience", "Occasion")
    ]
    assert validate_categories(ok, k=2, domains=["food", "kitchen"]) == []
    assert "exactly 3" in validate_categories(ok, k=3)[0]
    bad = [
        {"name": "Food Products", "subcategories": ["a1", "a1", "b"]},
        {"name": "Audience", "subcategories": ["x"]},
    ]
    errors = " | ".join(validate_categories(bad, domains=["food", "kitchen"]))
    assert "names a domain" in errors and "duplicate subcategories" in errors and "3-15" in errors


def test_a_category_that_holds_a_domain_name_or_repeats_another_llm_category_is_invalid():
    subs = ["Pan", "Ladle", "Spoon", "Grinder", "Sifter"]
    cats = [
        {"name": "Kitchen Utensils", "subcategories": subs},
        {"name": "Cookware", "subcategories": [*subs[:4], "Whisk"]},  # four of five shared
        {"name": "Occasion", "subcategories": ["Party", "Holiday", "Pan"]},  # one shared: its own
    ]
    errors = validate_categories(cats, domains=["food", "kitchen"], distinct=True)
    assert errors == [
        "categories[0] ('Kitchen Utensils'): names a domain, not a domain-agnostic property",
        "categories[1] ('Cookware'): repeats the subcategories of 'Kitchen Utensils'",
    ]
    assert validate_categories(cats[1:], domains=["food", "kitchen"], distinct=True) == []
    compound = [{"name": "Kitchenware", "subcategories": ["Pan", "Pot", "Lid"]}]
    assert "names a domain" in validate_categories(compound, domains=["food", "kitchen"])[0]
    assert validate_categories(cats[1:], domains=["food", "kitchen"]) == []  # an imported taxonomy may


def test_valid_llm_answers_give_a_k_category_taxonomy_via_merge_and_refine(tmp_path):
    store = make_store(tmp_path / "s.db")
    fake = FakeBackend(
        model="m-ok",
        script={
            "Propose": [json.dumps(PROPOSAL)],
            "Merge them": [k_categories(7)],
            "Refine the taxonomy": [k_categories(7, first="Target Audience")],
        },
    )
    r = induce_taxonomy(store, 1, fake, cfg())
    assert r.path == "llm-merge+llm-refine"
    assert len(r.categories) == 7 and r.categories[0]["name"] == "Target Audience"
    merge_prompt = next(c for c, _ in fake.calls if "Merge them" in c[-1]["content"])[-1]["content"]
    assert "Target Audiences (proposed" in merge_prompt and "Food (proposed" not in merge_prompt
    doc = taxonomy_document(store, 1, r.version)
    assert doc["origin"] == "induced" and doc["domains"] == ["food", "kitchen"]
    prov = doc["provenance"]
    assert prov["model"] == "m-ok" and prov["backend"] == "fake" and len(prov["prompt_hash"]) == 64
    assert prov["params"]["config"]["k"] == 7 and prov["params"]["config"]["seed"] == 0


def test_merge_that_never_validates_falls_back_to_the_seed_list_only_when_asked(tmp_path):
    store = make_store(tmp_path / "s.db")
    script = {
        "Propose": [json.dumps(PROPOSAL)],
        "Merge them": [k_categories(5)],
        "Refine the taxonomy": ["{"],
    }
    with pytest.raises(SemacdrError, match="taxonomy induction failed.*--allow-fallback"):
        induce_taxonomy(store, 1, FakeBackend(model="m-bad", script=dict(script)), cfg(k=7, retries=1))
    assert store.query("SELECT count(*) FROM taxonomies WHERE origin != 'imported'")[0][0] == 0
    fake = FakeBackend(model="m-bad-2", script=script)  # another model: no cached answers
    r = induce_taxonomy(store, 1, fake, cfg(k=7, retries=1, allow_fallback=True))
    assert taxonomy_document(store, 1, r.version)["origin"] == "fallback" and r.stats["fallback"]
    assert r.path == "deterministic-merge+refine-rejected"
    assert validate_categories(r.categories, k=7, domains=["food", "kitchen"]) == []
    names = [c["name"] for c in r.categories]
    assert names[:2] == ["Target Audiences", "Occasion"]  # most proposed first
    assert "Food" not in names
    merges = [c for c, _ in fake.calls if "Merge them" in c[-1]["content"]]
    assert len(merges) == 2 and "previous answer was rejected" in merges[1][-1]["content"]
    assert r.stats["merge_errors"] and r.stats["deterministic_notes"]["padded_categories"]


def test_junk_proposals_yield_a_valid_fallback_taxonomy_when_allowed(tmp_path):
    store = make_store(tmp_path / "s.db")
    r = induce_taxonomy(store, 1, FakeBackend(model="junk", responder=lambda c, k: "not json"),
                        cfg(k=7, allow_fallback=True))  # fmt: skip
    assert taxonomy_document(store, 1, r.version)["origin"] == "fallback"
    assert r.path.startswith("deterministic-merge")
    assert validate_categories(r.categories, k=7, domains=["food", "kitchen"]) == []
    assert r.stats["rejected_proposals"] == r.stats["minibatches"]


def test_deterministic_consolidation_merges_similar_names_and_is_stable():
    props = [
        {"name": "Audience", "subcategories": ["Kids", "Adults"]},
        {"name": "Target Audience", "subcategories": ["Adults", "Seniors", "Teens"]},
        {"name": "Kitchen", "subcategories": ["Pans", "Pots", "Knives"]},
        {"name": "Flavour", "subcategories": ["Sweet", "Salty", "Sour"]},
        {"name": "Flavor", "subcategories": ["Bitter"]},
    ]
    a, _ = consolidate_proposals(props, k=3, domains=["food", "kitchen"])
    b, _ = consolidate_proposals(list(props), k=3, domains=["food", "kitchen"])
    assert a == b
    assert [c["name"] for c in a][:2] == ["Audience", "Flavour"]
    assert set(a[0]["subcategories"]) == {"Kids", "Adults", "Seniors", "Teens"}
    assert "Bitter" in a[1]["subcategories"]
    assert all(c["name"] != "Kitchen" for c in a)


def test_a_rerun_reuses_cached_answers_and_keeps_the_identical_latest_version_and_its_annotations(tmp_path):
    store = make_store(tmp_path / "s.db")
    first = FakeBackend(model="seeded")
    r1 = induce_taxonomy(store, 1, first, cfg())
    assert not r1.stats["kept"]
    second = FakeBackend(model="seeded", responder=lambda c, k: "{")
    r2 = induce_taxonomy(store, 1, second, cfg())
    assert second.calls == [] and r2.categories == r1.categories
    assert (r2.taxonomy_id, r2.version, r2.stats["kept"]) == (r1.taxonomy_id, r1.version, True)
    assert [v["version"] for v in sem.taxonomy_versions(store, 1)] == [1, r1.version]  # fixture's, induced
    prompts1 = [c[-1]["content"] for c, _ in first.calls if "Propose" in c[-1]["content"]]
    other = FakeBackend(model="seeded-2")
    r3 = induce_taxonomy(store, 1, other, cfg(seed=1))
    prompts2 = [c[-1]["content"] for c, _ in other.calls if "Propose" in c[-1]["content"]]
    assert prompts1 != prompts2 and r3.version == r1.version + 1 and not r3.stats["kept"]  # another model


def test_same_source_and_target_is_an_error(tmp_path):
    store = make_store(tmp_path / "s.db")
    with pytest.raises(SemacdrError, match="two different domains"):
        induce_taxonomy(store, 1, FakeBackend(), TaxonomyConfig(source="food", target="food"))


def test_proposed_categories_copied_from_item_titles_are_rejected():
    from semacdr_cli.taxonomy.rules import copies_item_titles, name_key

    titles = [
        name_key(t)
        for t in ["The Blood Moon Curse (Paperback)", "Dread Curse: A Novel", "The Orion Protocol"]
    ]
    lifted = {"name": "The Blood Moon Curse", "subcategories": ["Romance", "Horror", "Drama"]}
    subs_lifted = {"name": "Mood", "subcategories": ["Dread Curse", "The Orion Protocol", "Dark"]}
    shared = {"name": "Genre", "subcategories": ["Horror", "Science Fiction", "Romance"]}
    assert copies_item_titles(lifted, titles)
    assert copies_item_titles(subs_lifted, titles)
    assert not copies_item_titles(shared, titles)


def test_markup_and_number_debris_from_a_small_model_is_not_a_category():
    from semacdr_cli.taxonomy.rules import drop_malformed, malformed_name, validate_categories

    # what SmolLM2-135M proposed for Food-Kitchen (bench/e2e_real.sh)
    for junk in [
        "Almonds 1.2u 1.2v X 1.2v",
        "Jsonencoder({ Encoding:'b",
        "Description::customary Japanese Food",
        "{{category}} {{description|strip=lg",
        "Birrakabaliminci_ladies_dress 12oz 12",
    ]:
        assert malformed_name(junk), junk
    for fine in [
        "Target Audience",
        "Price Level",
        "Age 18-25",
        "Ready-to-Eat",
        "Bakery & Pastry",
        "Price_Level",
    ]:
        assert not malformed_name(fine), fine
    cat = {"name": "Style", "subcategories": ["Classic", "Modern", "Tahina 1.2x1x 1.2k Gfjyvqrr", "Rustic"]}
    assert drop_malformed(cat)["subcategories"] == ["Classic", "Modern", "Rustic"]
    assert drop_malformed({"name": "Id} {{category}}", "subcategories": ["A", "B", "C"]}) is None
    errors = validate_categories([{"name": "Home", "subcategories": ["Description", "Title=", "Kitchen"]}])
    assert any("markup" in e for e in errors)


def test_an_identical_taxonomy_for_other_domains_is_a_new_version(tmp_path):
    store = make_store(tmp_path / "s.db", taxonomy=None)
    cats = [{"name": "Occasion", "subcategories": ["Everyday", "Holiday"]}]
    kw = {"origin": "induced", "model": "m", "prompt_hash": "p"}
    first = sem.insert_taxonomy_unless_latest(store, 1, cats, domains=["food", "kitchen"], **kw)
    again = sem.insert_taxonomy_unless_latest(store, 1, cats, domains=["food", "kitchen"], **kw)
    other = sem.insert_taxonomy_unless_latest(store, 1, cats, domains=["kitchen", "food"], **kw)
    assert first[1:] == (1, False) and again == (first[0], 1, True) and other[1:] == (2, False)
