"""The embedded default: a small, deterministic, SYNTHETIC two-domain data set (books, movies).

Each synthetic user has one or two latent themes (historical, science fiction, romance, crime,
fantasy, children's, true story, horror) and picks mostly items of those themes in *both*
domains, with some noise and a popularity skew; events carry increasing timestamps. Item titles
and one-sentence descriptions are readable, so the LLM has text to annotate, and the planted
cross-domain tastes give the recommender something to transfer. The files are in the `csv`
importer's layout; `semacdr_cli.ingest.import_demo` imports them flagged ``synthetic``.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

DOMAINS = ("book", "movie")

# theme -> (title patterns, fillers, book description, movie description)
THEMES: dict[str, dict] = {
    "historical": {
        "patterns": ["The Siege of {x}", "Empire of {x}", "The Last Days of {x}", "{x} in Flames"],
        "fill": [
            "Carthage",
            "Byzantium",
            "Alexandria",
            "Troy",
            "Kyoto",
            "Samarkand",
            "Versailles",
            "Aquitaine",
            "the Nile",
            "Babylon",
            "Ravenna",
            "Tenochtitlan",
        ],
        "book": "A historical novel about {s}, set amid the politics and wars of a vanished empire.",
        "movie": "A sweeping period drama about {s}, with battles, intrigue and lavish costumes.",
    },
    "science fiction": {
        "patterns": ["Starfall {x}", "The {x} Protocol", "Beyond the {x} Nebula", "Colony {x}"],
        "fill": [
            "Orion",
            "Helix",
            "Quantum",
            "Andromeda",
            "Titan",
            "Vega",
            "Zero",
            "Kepler",
            "Singularity",
            "Nova",
            "Ion",
            "Europa",
        ],
        "book": "A science fiction novel about {s}, with starships, alien contact and strange technology.",
        "movie": "A science fiction film about {s}, full of spacecraft, robots and distant planets.",
    },
    "romance": {
        "patterns": ["Love in {x}", "A Summer in {x}", "The {x} Letters", "Forever, {x}"],
        "fill": [
            "Provence",
            "Venice",
            "Paris",
            "Juliet",
            "Lisbon",
            "Seville",
            "Capri",
            "Santorini",
            "Amalfi",
            "Vienna",
            "Bordeaux",
            "Florence",
        ],
        "book": "A heartwarming romance about {s}, two strangers and a love that changes everything.",
        "movie": "A romantic comedy about {s}, where two unlikely people fall in love.",
    },
    "crime": {
        "patterns": ["The {x} Murders", "Dead Man's {x}", "Case File: {x}", "The {x} Affair"],
        "fill": [
            "Harbor",
            "Midnight",
            "Baker Street",
            "Silent",
            "Blackwater",
            "Redline",
            "Ashford",
            "Cold",
            "Whitechapel",
            "Marlowe",
            "Ironside",
            "Shadow",
        ],
        "book": "A gripping crime thriller about {s}, a detective and a killer who leaves no trace.",
        "movie": "A tense crime thriller about {s}, following detectives through a city of secrets.",
    },
    "fantasy": {
        "patterns": ["The Dragon of {x}", "Crown of {x}", "The Sword of {x}", "The Wizard of {x}"],
        "fill": [
            "Eldoria",
            "Thornwood",
            "the North",
            "Avalon",
            "Mistvale",
            "Embers",
            "Storms",
            "Shadows",
            "Ravenhold",
            "the Deep",
            "Silverfall",
            "Ice",
        ],
        "book": "An epic fantasy novel about {s}, with magic, dragons and a quest across enchanted lands.",
        "movie": "A fantasy adventure film about {s}, with wizards, monsters and a hidden kingdom.",
    },
    "children's": {
        "patterns": ["The Little {x}", "{x} Goes to School", "Goodnight, {x}", "The Adventures of {x}"],
        "fill": [
            "Bear",
            "Penguin",
            "Dragon",
            "Fox",
            "Robot",
            "Bunny",
            "Owl",
            "Elephant",
            "Duckling",
            "Kitten",
            "Turtle",
            "Puppy",
        ],
        "book": "A picture book for young children about {s}, friendship and growing up.",
        "movie": "An animated family film about {s}, for children and their parents.",
    },
    "true story": {
        "patterns": ["The True Story of {x}", "Inside {x}", "{x}: A Memoir", "The Making of {x}"],
        "fill": [
            "Apollo 11",
            "the Titanic",
            "Everest",
            "Chernobyl",
            "the Amazon",
            "Enigma",
            "the Blitz",
            "Silicon Valley",
            "the Deep Ocean",
            "Antarctica",
            "the Moon Landing",
            "the Great Fire",
        ],
        "book": "A non-fiction account of {s}, drawn from interviews, archives and first-hand testimony.",
        "movie": "A documentary about {s}, told through archive footage and interviews.",
    },
    "horror": {
        "patterns": ["The Haunting of {x}", "{x} House", "Night of the {x}", "The {x} Curse"],
        "fill": [
            "Hollow Creek",
            "Raven",
            "Black Lake",
            "Crimson",
            "Whispering Pines",
            "Bone",
            "Grimwood",
            "Wolves",
            "Dread",
            "Pale",
            "Hexham",
            "Blood Moon",
        ],
        "book": "A chilling horror novel about {s}, where something evil waits in the dark.",
        "movie": "A horror film about {s}, with a haunted place and a terrifying presence.",
    },
}
SUBJECTS = {
    "historical": [
        "a general's rise and fall",
        "a siege that lasted a year",
        "a scribe at the imperial court",
        "the fall of a great city",
        "a queen who defied an empire",
    ],
    "science fiction": [
        "humanity's first colony",
        "a rogue artificial intelligence",
        "a signal from deep space",
        "a crew lost between the stars",
        "a war over a distant moon",
    ],
    "romance": [
        "a chance meeting abroad",
        "rival chefs who fall for each other",
        "letters found in an attic",
        "a summer wedding gone wrong",
        "first love rediscovered",
    ],
    "crime": [
        "a string of unsolved murders",
        "a heist gone wrong",
        "a detective haunted by an old case",
        "a missing heiress",
        "a corrupt police precinct",
    ],
    "fantasy": [
        "an orphan's destiny",
        "the last living dragon",
        "a stolen crown",
        "a war between wizards",
        "a map to a hidden kingdom",
    ],
    "children's": [
        "a curious little animal",
        "a first day at school",
        "a bedtime adventure",
        "a lost toy finding its way home",
        "making a new friend",
    ],
    "true story": [
        "real events and the people who lived them",
        "a famous expedition",
        "a disaster and its survivors",
        "the scientists behind a discovery",
        "an inventor's life",
    ],
    "horror": [
        "a family in a cursed house",
        "a town where the dead return",
        "a demon summoned by mistake",
        "campers hunted in the woods",
        "a doll that will not stay buried",
    ],
}
BOOK_SUFFIXES = ["", ": A Novel", "", " (Paperback)"]
MOVIE_SUFFIXES = [" (Blu-ray)", " (DVD)", "", " (4K Ultra HD)"]
PUBLISHERS = ["Harbor Press", "Northwind Books", "Lantern House", "Quill & Co."]
STUDIOS = ["Silverline Pictures", "Red Harbor Films", "Lumen Studios", "Atlas Entertainment"]


def make_items(domain: str, n: int, rng: random.Random, used: set[str] | None = None) -> list[dict]:
    """``n`` items of ``domain``, themes assigned round-robin, titles unique (also across ``used``)."""
    themes = list(THEMES)
    pools = {}
    for t in themes:
        spec = THEMES[t]
        combos = [p.format(x=f) for p in spec["patterns"] for f in spec["fill"]]
        rng.shuffle(combos)
        pools[t] = combos
    items = []
    used = set() if used is None else used
    suffixes = BOOK_SUFFIXES if domain == "book" else MOVIE_SUFFIXES
    makers = PUBLISHERS if domain == "book" else STUDIOS
    for k in range(n):
        theme = themes[k % len(themes)]
        pool = pools[theme]
        base = pool.pop() if pool else f"{theme.title()} Story No. {k}"
        title = base + rng.choice(suffixes)
        while title in used:
            title = f"{base} (Vol. {len(used) % 9 + 2})"
        used.add(title)
        spec = THEMES[theme]
        items.append(
            {
                "item": f"{domain}-{k + 1:04d}",
                "title": title,
                "description": spec[domain].format(s=rng.choice(SUBJECTS[theme])),
                "categories": json.dumps(["Books" if domain == "book" else "Movies & TV"]),
                "brand": rng.choice(makers),
                "theme": theme,
            }
        )
    return items


def write_demo(
    out_dir: str | Path, users: int = 600, items_per_domain: int = 72, seed: int = 0
) -> dict[str, Path]:
    """Write the synthetic data set into ``out_dir``; the same arguments give the same bytes.

    Returns ``{"interactions_book": path, "items_book": path, ..., "readme": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    themes = list(THEMES)
    used: set[str] = set()
    catalog = {d: make_items(d, items_per_domain, rng, used) for d in DOMAINS}
    # popularity skew: a random rank per item, weight 1 / (rank + 1) ** 0.7
    weights = {}
    for d in DOMAINS:
        ranks = list(range(items_per_domain))
        rng.shuffle(ranks)
        weights[d] = [1.0 / (r + 1) ** 0.7 for r in ranks]
    events: dict[str, list] = {d: [] for d in DOMAINS}
    base_time = 1_420_070_400  # 2015-01-01
    for u in range(users):
        user = f"user-{u + 1:05d}"
        tastes = rng.sample(themes, 2 if rng.random() < 0.5 else 1)
        picks = []
        for d in DOMAINS:
            items = catalog[d]
            chosen: set[int] = set()
            for _ in range(rng.randint(6, 10)):
                on_theme = rng.random() < 0.85
                cand = [
                    i
                    for i, it in enumerate(items)
                    if i not in chosen and (not on_theme or it["theme"] in tastes)
                ]
                if not cand:
                    cand = [i for i in range(len(items)) if i not in chosen]
                i = rng.choices(cand, weights=[weights[d][c] for c in cand])[0]
                chosen.add(i)
                picks.append((d, items[i]["item"], rng.choice([3, 4, 4, 5, 5, 5])))
        rng.shuffle(picks)
        t = base_time + rng.randint(0, 3 * 365 * 86400)
        for d, item, rating in picks:
            t += rng.randint(3600, 20 * 86400)
            events[d].append((user, item, t, rating))
    paths: dict[str, Path] = {}
    for d in DOMAINS:
        p = out / f"items_{d}.csv"
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["item", "title", "description", "categories", "brand"])
            for it in catalog[d]:
                w.writerow([it["item"], it["title"], it["description"], it["categories"], it["brand"]])
        paths[f"items_{d}"] = p
        p = out / f"interactions_{d}.csv"
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["user", "item", "timestamp", "rating"])
            w.writerows(sorted(events[d], key=lambda e: (e[0], e[2])))
        paths[f"interactions_{d}"] = p
    readme = out / "README.txt"
    readme.write_text(
        "SYNTHETIC demo data written by `semacdr data demo` "
        f"(users={users}, items_per_domain={items_per_domain}, seed={seed}).\n"
        "Not real behaviour: each user has 1-2 latent themes shared by the book and movie domains.\n",
        encoding="utf-8",
    )
    paths["readme"] = readme
    return paths


def planted_theme(external_id: str) -> str | None:
    """The planted theme of a demo item (`book-0001` -> the first theme): the answer key of the
    annotation-quality bench. Never shown to the LLM (items carry only titles and descriptions)."""
    try:
        k = int(str(external_id).rsplit("-", 1)[1]) - 1
    except (IndexError, ValueError):
        return None
    return list(THEMES)[k % len(THEMES)] if k >= 0 else None
