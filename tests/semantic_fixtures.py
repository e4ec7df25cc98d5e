"""Tiny stores for the semantic tests: rows inserted directly (datasets, domains, items, a taxonomy)."""

from __future__ import annotations

from pathlib import Path

from semacdr_cli.store import Store, now
from semacdr_cli.store import semantic as sem

FOOD = [
    "Organic Green Tea Bags, 100 Count",
    "Dark Chocolate Bar with Sea Salt",
    "Extra Virgin Olive Oil, 1 Liter",
    "Gluten Free Pasta Spaghetti",
    "Roasted Coffee Beans Espresso Blend",
    "Honey Roasted Peanuts Snack Pack",
    "Maple Syrup Grade A Amber",
    "Basmati Rice Premium Long Grain",
]
KITCHEN = [
    "Stainless Steel Chef Knife 8 Inch",
    "Nonstick Frying Pan 12 Inch",
    "Bamboo Cutting Board Set",
    "Electric Kettle with Temperature Control",
    "Silicone Baking Mat Set of 2",
    "Cast Iron Dutch Oven 5 Quart",
    "Glass Food Storage Containers",
    "Manual Coffee Grinder Ceramic Burr",
]

TAXONOMY = [
    {"name": "Target Audience", "subcategories": ["Children", "Adults", "Families", "Professionals"]},
    {"name": "Occasion", "subcategories": ["Everyday", "Holiday", "Gift", "Party"]},
    {"name": "Lifestyle", "subcategories": ["Healthy", "Gourmet", "Convenience", "Eco Friendly"]},
]


def make_store(path: Path, food: list[str] | None = None, kitchen: list[str] | None = None,
               taxonomy: list[dict] | None = TAXONOMY, n_food: int | None = None) -> Store:  # fmt: skip
    """A store with dataset "tiny", domains food/kitchen, items from the title lists, and a taxonomy."""
    food = list(food or FOOD)
    if n_food is not None:
        food = [f"{FOOD[i % len(FOOD)]} variant {i}" for i in range(n_food)]
    kitchen = list(kitchen or KITCHEN)
    store = Store(path)
    with store.transaction() as c:
        ds = c.execute(
            "INSERT INTO datasets (name, format, created_at) VALUES ('tiny', 'csv', ?)", (now(),)
        ).lastrowid
        for pos, (dname, titles) in enumerate((("food", food), ("kitchen", kitchen))):
            did = c.execute(
                "INSERT INTO domains (dataset_id, name, position) VALUES (?, ?, ?)", (ds, dname, pos)
            ).lastrowid
            for i, t in enumerate(titles):
                c.execute(
                    "INSERT INTO items (domain_id, external_id, title) VALUES (?, ?, ?)",
                    (did, f"{dname[0].upper()}{i:04d}", t),
                )
    if taxonomy:
        sem.insert_taxonomy(store, ds, taxonomy, origin="imported")
    return store
