"""Training prompts for the draft adapter bench_adaptive.py measures with: the benchmark's
task types (copy a list, passive voice, rename a variable, repeat a passage; poems,
explanations, ideas, stories) on other content. None of bench_adaptive.py's 8 prompts is
here (checked below), so the benchmark's prompts stay held out from the adapter's training.

    uv run python bench/adaptive_train_prompts.py > bench/out/adaptive_train.jsonl
    uv run specviz adapt --drafter layerskip:8 --prompts bench/out/adaptive_train.jsonl -o bench/out/adapters/adaptive-ls8
"""

from __future__ import annotations

LISTS = ["cat, dog, horse, rabbit, goat", "Paris, Rome, Madrid, Berlin, Vienna", "hammer, saw, drill, wrench, pliers",
         "Monday, Tuesday, Wednesday, Thursday, Friday", "piano, violin, flute, drum, guitar",
         "salt, pepper, cumin, basil, thyme", "oak, pine, birch, maple, willow", "iron, copper, silver, gold, tin",
         "bread, milk, eggs, butter, cheese", "north, south, east, west, center",
         "January, March, May, July, September", "red car, blue bus, green bike, white van, black truck",
         "apple pie, lemon tart, cherry cake, plum jam, honey bun", "Mercury, Venus, Earth, Mars, Jupiter",
         "pen, pencil, eraser, ruler, stapler", "tennis, golf, rugby, hockey, cricket"]
PASSAGES = [
    "The museum opened a new wing last spring. Visitors praised the lighting, the guides explained each painting, "
    "and the cafe sold out of sandwiches by noon.",
    "Our neighbours repaired the fence on Saturday. They painted it green, planted roses along it, and invited "
    "everyone on the street to a small party.",
    "The engineers tested the new engine in the desert. It ran for six hours, used less fuel than expected, and "
    "broke a speed record before sunset.",
    "The school hired two new teachers this year. One teaches chemistry, the other coaches the football team, and "
    "both live near the river.",
    "A storm closed the harbour for three days. Fishermen stayed at home, the ferry was cancelled, and the town "
    "council opened the gym as a shelter.",
    "The bakery on the corner changed owners in June. The new owner kept the old recipes, added a coffee bar, and "
    "hired the previous owner's son.",
    "Scientists counted the birds on the island every morning. They found forty species, ringed two hundred birds, "
    "and published their results in the autumn.",
    "The city planted a thousand trees along the avenue. Volunteers dug the holes, children watered the saplings, "
    "and the mayor thanked them in a speech.",
    "The orchestra rehearsed the symphony for a month. The conductor changed the tempo twice, the violins practised "
    "every evening, and the concert sold out.",
    "The farmer sold his old tractor at the market. A young couple bought it, drove it home slowly, and used it to "
    "plough their first field.",
    "The library extended its opening hours in winter. Students studied late, the staff organised reading groups, "
    "and the heating bill doubled.",
    "The hikers reached the summit before dawn. They watched the sunrise, ate breakfast on the rocks, and walked "
    "down through the forest by noon.",
]
CODE = [
    ("count", "n", "def count_words(text):\n    count = 0\n    for word in text.split():\n        count += 1\n    return count\n"),
    ("total", "acc", "def add_all(values):\n    total = 0\n    for v in values:\n        total = total + v\n    return total\n"),
    ("best", "top", "def largest(xs):\n    best = xs[0]\n    for x in xs:\n        if x > best:\n            best = x\n    return best\n"),
    ("out", "res", "def evens(numbers):\n    out = []\n    for n in numbers:\n        if n % 2 == 0:\n            out.append(n)\n    return out\n"),
    ("name", "label", "def greet(name):\n    message = 'Hello, ' + name\n    print(message)\n    return name\n"),
    ("size", "length", "def area(size):\n    if size < 0:\n        raise ValueError('negative')\n    return size * size\n"),
    ("s", "text", "def shout(s):\n    s = s.upper()\n    s = s + '!'\n    return s\n"),
    ("row", "line", "def read_rows(path):\n    rows = []\n    for row in open(path):\n        rows.append(row.strip())\n    return rows\n"),
]
POEMS = ["a mountain lake at dawn", "autumn leaves in the city", "a lighthouse keeper", "the first snow of winter",
         "a train crossing the plains", "an old clock in a hallway", "bees in a summer garden", "the moon over a desert",
         "rain on a tin roof", "a fox in the morning mist", "a market at sunrise", "a river in spring",
         "stars above a campfire", "a quiet library"]
EXPLAIN = ["leaves change colour in autumn", "the moon has phases", "ice floats on water", "we have seasons",
           "bread rises", "the sea is salty", "thunder follows lightning", "birds migrate", "magnets attract iron",
           "we need to sleep", "rainbows appear after rain", "plants need sunlight", "the ocean has tides",
           "boats float"]
IDEAS = ["a rainy afternoon at home", "a birthday party for a seven-year-old", "a picnic in the park",
         "learning a new language", "a school science fair", "a family dinner on a budget", "a day at the beach",
         "saving money each month", "a book club's first meeting", "a small vegetable garden",
         "a long train journey", "staying active in winter", "a neighbourhood clean-up", "a first camping trip"]
STORIES = ["a cat who wants to fly", "a lighthouse that stops working", "a girl who finds a map", "a dragon afraid of fire",
           "a tree that can talk", "a boy who builds a boat", "a lost umbrella", "a clock that runs backwards",
           "a dog who becomes mayor", "a snowman in spring", "an astronaut who misses home", "a shy ghost",
           "a baker who forgets sugar", "a penguin in the city"]


def training_prompts() -> list[str]:
    out = [f"Copy this list exactly, twice: {items}." for items in LISTS]
    out += [f"Rewrite in the passive voice, keeping every detail: {p}" for p in PASSAGES]
    out += [f"Rename the variable {a} to {b} in this code and show the whole code:\n{code}" for a, b, code in CODE]
    out += [f"Repeat the following passage word for word: {p}" for p in PASSAGES]
    out += [f"Write a short poem about {t}." for t in POEMS]
    out += [f"Explain why {t} to a ten-year-old." for t in EXPLAIN]
    out += [f"Give three ideas for {t}." for t in IDEAS]
    out += [f"Tell a very short story about {t}." for t in STORIES]
    return out


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_adaptive import PROMPTS

    prompts = training_prompts()
    assert not set(prompts) & set(PROMPTS.values()), "a benchmark prompt is in the training set"
    print("\n".join(json.dumps({"prompt": p}) for p in prompts))
