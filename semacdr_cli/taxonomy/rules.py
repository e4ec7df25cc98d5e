"""The rules a taxonomy meets: names (normalised, compared by key), validation, the parsing of an
LLM's taxonomy answer, and the deterministic consolidation of proposals (which pads from the
fixed seed list only on request: `--allow-fallback`)."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.errors import SemacdrError

MIN_SUBCATEGORIES = 3
MAX_SUBCATEGORIES = 15
MAX_NAME_CHARS = 40

# Generic, domain-agnostic categories used only to pad a deterministic consolidation that has too
# few categories or subcategories (recorded in provenance when used).
SEED_CATEGORIES: list[tuple[str, list[str]]] = [
    ("Target Audience", ["Children", "Teens", "Adults", "Seniors", "Families", "Professionals"]),
    ("Occasion", ["Everyday", "Holiday", "Gift", "Party", "Travel", "Special Occasion"]),
    ("Style", ["Classic", "Modern", "Minimalist", "Decorative", "Rustic"]),
    ("Price Level", ["Budget", "Mid-Range", "Premium", "Luxury"]),
    ("Usage Context", ["Home", "Outdoor", "Office", "On The Go", "Commercial"]),
    ("Quality Focus", ["Durability", "Convenience", "Health", "Sustainability", "Performance"]),
    ("Origin", ["Local", "Imported", "Handmade", "Brand Name", "Generic"]),
    ("Mood", ["Relaxing", "Energizing", "Fun", "Comforting", "Practical"]),
    ("Skill Level", ["Beginner", "Intermediate", "Expert"]),
    ("Season", ["Spring", "Summer", "Autumn", "Winter", "All Year"]),
]
GENERIC_SUBCATEGORIES = ["General", "Specialty", "Other"]
_DOMAIN_FILLER = {"product", "item", "type", "category", "good", "general", "department", "and", "&", "other"}

# -- names ------------------------------------------------------------------------------------------


def _singular(token: str) -> str:
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is", "os")):
        return token[:-1]
    return token


def name_key(name: str) -> str:
    """The comparison key of a name: lower case, punctuation to spaces, each word singular."""
    tokens = re.sub(r"[^0-9a-z]+", " ", name.lower()).split()
    return " ".join(_singular(t) for t in tokens)


def normalize_name(name: str) -> str:
    """A clean display form: trimmed, one space between words, quotes and trailing punctuation gone,
    words capitalised (all-caps acronyms such as DIY kept), at most 40 characters."""
    s = re.sub(r"\s+", " ", str(name)).strip().strip("\"'`*-_:;.,!?()[]{}").strip()
    words: list[str] = []
    shouting = s.isupper() and " " in s  # "ON THE GO" is not three acronyms
    for w in s.split(" "):
        if not shouting and len(w) <= 4 and w.isupper() and w.isalpha():
            words.append(w)
        elif w.lower() in {"and", "or", "of", "for", "the", "to", "in", "on"} and words:
            words.append(w.lower())
        else:
            words.append("-".join(part[:1].upper() + part[1:].lower() for part in w.split("-")))
    return " ".join(words)[:MAX_NAME_CHARS].strip()


def normalize_categories(categories: list[dict]) -> list[dict]:
    """Normalise names and drop duplicates: categories with the same key are merged (subcategories
    unioned in order), subcategories are deduplicated within their category by key."""
    out: list[dict] = []
    index: dict[str, dict] = {}
    for cat in categories:
        name = normalize_name(cat.get("name", ""))
        key = name_key(name)
        if not key:
            continue
        target = index.get(key)
        if target is None:
            target = {"name": name, "subcategories": [], "_keys": set()}
            if cat.get("description"):
                target["description"] = cat["description"]
            index[key] = target
            out.append(target)
        for sub in cat.get("subcategories", []):
            sname = normalize_name(sub)
            skey = name_key(sname)
            if skey and skey not in target["_keys"]:
                target["_keys"].add(skey)
                target["subcategories"].append(sname)
    for cat in out:
        del cat["_keys"]
    return out


def _is_domain_specific(name: str, domains: list[str]) -> bool:
    """True when a category name is a domain name (plus filler words such as 'products') or holds
    one ("Kitchen Utensils", "Office Supplies", "Kitchenware"): such a category fits one domain's
    items only."""
    tokens = set(name_key(name).split()) - _DOMAIN_FILLER
    domain_tokens = {t for d in domains for t in name_key(d).split()}
    return not tokens or any(
        t == d or (len(d) >= 4 and t.startswith(d)) for t in tokens for d in domain_tokens
    )


def repeats(subs: list[str], earlier: list[str], share: float = 0.8) -> bool:
    """True when at least ``share`` of the smaller of two subcategory lists is in the other: the
    two categories give an item the same labels twice (a 1.5B model's merge wrote "Cookware" with
    the twelve subcategories of "Kitchen Utensils")."""
    a, b = {name_key(x) for x in subs}, {name_key(x) for x in earlier}
    return bool(a and b) and len(a & b) >= share * min(len(a), len(b))


def copies_item_titles(cat: dict, title_keys: list[str]) -> bool:
    """True when a proposed category is lifted from item titles rather than a shared property: its
    name (3+ words) stands in a sampled title, or most of its subcategories (2+ words) do. A small
    model copies titles ("The Blood Moon Curse": ["Dread Curse", ...]); such a category would then
    leak into every annotation prompt."""

    def in_titles(name: str, min_words: int) -> bool:
        key = name_key(name)
        return len(key.split()) >= min_words and any(f" {key} " in f" {t} " for t in title_keys)

    subs = cat.get("subcategories", [])
    copied = sum(in_titles(sub, 2) for sub in subs)
    return in_titles(cat.get("name", ""), 3) or (bool(subs) and copied * 2 > len(subs))


_MARKUP = re.compile(r"[{}\[\]<>|=\\]|::")


def malformed_name(name: str) -> bool:
    """True for a name no reader would take for a category: markup or template debris
    ("{{description|strip=lg", "Jsonencoder({ Encoding:'b"), or mostly words with digits
    ("Almonds 1.2u 1.2v X 1.2v": two or more such words, at least half). A small model's proposals contain such names."""
    words = name.split()
    with_digits = sum(any(ch.isdigit() for ch in w) for w in words)
    return bool(_MARKUP.search(name)) or (with_digits >= 2 and with_digits * 2 >= len(words))


def drop_malformed(cat: dict) -> dict | None:
    """The category without its malformed subcategories; None when its name is malformed or too few
    subcategories remain."""
    if malformed_name(cat.get("name", "")):
        return None
    subs = [x for x in cat.get("subcategories", []) if not malformed_name(x)]
    return {**cat, "subcategories": subs} if len(subs) >= MIN_SUBCATEGORIES else None


def validate_categories(
    categories: list[dict], *, k: int | None = None, domains: list[str] = (), distinct: bool = False
) -> list[str]:
    """Every rule a stored taxonomy must meet; an empty list means valid. ``distinct`` (an LLM's
    whole taxonomy, the propose path): no category repeats another's subcategories either."""
    errors = []
    if k is not None and len(categories) != k:
        errors.append(f"expected exactly {k} categories, got {len(categories)}")
    seen: dict[str, str] = {}
    for i, cat in enumerate(categories):
        name = cat.get("name", "")
        key = name_key(name)
        where = f"categories[{i}] ({name!r})"
        subs = cat.get("subcategories", [])
        twin = distinct and next(
            (c for c in categories[:i] if repeats(subs, c.get("subcategories", []))), None
        )
        if twin:
            errors.append(f"{where}: repeats the subcategories of {twin['name']!r}")
        if not key:
            errors.append(f"{where}: empty name")
            continue
        if key in seen:
            errors.append(f"{where}: duplicate of category {seen[key]!r}")
        seen[key] = name
        if domains and _is_domain_specific(name, list(domains)):
            errors.append(f"{where}: names a domain, not a domain-agnostic property")
        subs = cat.get("subcategories", [])
        if not MIN_SUBCATEGORIES <= len(subs) <= MAX_SUBCATEGORIES:
            errors.append(
                f"{where}: needs {MIN_SUBCATEGORIES}-{MAX_SUBCATEGORIES} subcategories, has {len(subs)}"
            )
        skeys = [name_key(s) for s in subs]
        dupes = sorted({s for s in skeys if skeys.count(s) > 1})
        if dupes:
            errors.append(f"{where}: duplicate subcategories {dupes}")
        if any(not s for s in skeys):
            errors.append(f"{where}: empty subcategory name")
        if malformed_name(name) or any(malformed_name(x) for x in subs):
            errors.append(f"{where}: a name is markup or mostly numbers, not a category")
    return errors


def _schema_error(instance: Any, schema: dict) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    err = best_match(Draft202012Validator(schema).iter_errors(instance))
    if err is None:
        return None
    return f"{_json_path(err.absolute_path)}: {err.message}"


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def parse_taxonomy_answer(
    text: str, schema: dict, *, k: int, domains: list[str]
) -> tuple[list[dict] | None, str]:
    """(normalised categories, "") when the LLM's answer is a valid taxonomy, else (None, reason)."""
    try:
        obj = safe_json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    err = _schema_error(obj, schema)
    if err:
        return None, f"schema: {err}"
    cats = normalize_categories(obj["categories"])
    errors = validate_categories(cats, k=k, domains=domains, distinct=True)
    if errors:
        return None, "; ".join(errors[:3])
    return cats, ""


# -- deterministic consolidation ------------------------------------------------------------------


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    ta, tb = set(a.split()), set(b.split())
    if ta and tb and (ta <= tb or tb <= ta):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def consolidate_proposals(proposals: list[dict], *, k: int, domains: list[str]) -> tuple[list[dict], dict]:
    """A deterministic merge of proposed categories into exactly k valid ones; returns (categories, notes).

    Category names are clustered by key similarity (same key, one key's words inside the other's,
    or difflib ratio >= 0.8), clusters are ranked by how often they were proposed, subcategories by
    frequency; clusters that only name a domain are dropped. Missing categories or subcategories are
    padded from a fixed generic seed list (SEED_CATEGORIES), and `notes` records what was padded.
    """
    clusters: list[dict] = []
    for prop in proposals:
        name = normalize_name(prop.get("name", ""))
        key = name_key(name)
        if not key or _is_domain_specific(name, domains):
            continue
        for cl in clusters:
            if _similar(key, cl["key"]):
                break
        else:
            cl = {
                "key": key,
                "names": Counter(),
                "count": 0,
                "subs": Counter(),
                "sub_names": {},
                "first": len(clusters),
            }
            clusters.append(cl)
        cl["names"][name] += 1
        cl["count"] += 1
        for sub in prop.get("subcategories", []):
            sname = normalize_name(sub)
            skey = name_key(sname)
            if skey and skey != cl["key"]:
                cl["subs"][skey] += 1
                cl["sub_names"].setdefault(skey, sname)
    clusters.sort(key=lambda c: (-c["count"], -len(c["subs"]), c["first"]))
    rich = [c for c in clusters if len(c["subs"]) >= MIN_SUBCATEGORIES]
    poor = [c for c in clusters if len(c["subs"]) < MIN_SUBCATEGORIES]
    chosen = (rich + poor)[:k]
    notes: dict[str, Any] = {"clusters": len(clusters), "padded_subcategories": {}, "padded_categories": []}
    seed = {name_key(n): subs for n, subs in SEED_CATEGORIES}
    out: list[dict] = []
    used_keys: set[str] = set()
    for cl in chosen:
        name = max(cl["names"].items(), key=lambda kv: kv[1])[0]  # most proposed, first seen on ties
        subs = [cl["sub_names"][s] for s, _ in sorted(cl["subs"].items(), key=lambda kv: (-kv[1], kv[0]))]
        subs = subs[:MAX_SUBCATEGORIES]
        if len(subs) < MIN_SUBCATEGORIES:
            pad = [
                s
                for s in seed.get(cl["key"], []) + GENERIC_SUBCATEGORIES
                if name_key(s) not in {name_key(x) for x in subs}
            ]
            added = pad[: MIN_SUBCATEGORIES - len(subs)]
            subs += added
            notes["padded_subcategories"][name] = added
        out.append({"name": name, "subcategories": subs})
        used_keys.add(cl["key"])
    for sname, ssubs in SEED_CATEGORIES:
        if len(out) >= k:
            break
        if any(_similar(name_key(sname), u) for u in used_keys):
            continue
        out.append({"name": sname, "subcategories": list(ssubs)})
        used_keys.add(name_key(sname))
        notes["padded_categories"].append(sname)
    n = 1
    while len(out) < k:  # k larger than the seed list: numbered generic categories keep it valid
        out.append({"name": f"Facet {n}", "subcategories": list(GENERIC_SUBCATEGORIES)})
        notes["padded_categories"].append(f"Facet {n}")
        n += 1
    out = normalize_categories(out)
    errors = validate_categories(out, k=k, domains=domains)
    if errors:  # cannot happen by construction; fail loudly rather than store an invalid taxonomy
        raise SemacdrError(f"deterministic consolidation produced an invalid taxonomy: {errors[0]}")
    return out, notes
