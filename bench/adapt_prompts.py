"""The training domain of bench_adapt.py: one-sentence explanations of a concept.

Prompts are the product of topic lists and a few phrasings of the same request; the
held-out topics appear in no training prompt.
"""

from __future__ import annotations

TOPICS = {
    "computing": ["a CPU", "a compiler", "a database", "a router", "a protocol", "an operating system", "a firewall",
                  "a hash table", "a linked list", "a search engine", "an algorithm", "a spreadsheet", "a web browser",
                  "a password", "an interpreter", "a pixel", "a server", "a bit", "encryption", "a keyboard",
                  "a programming language", "a virtual machine", "a GPU", "an API", "a file system", "a thread"],
    "physics": ["gravity", "an atom", "a magnet", "friction", "momentum", "a photon", "electricity", "a laser",
                "a black hole", "sound", "temperature", "a lens", "radioactivity", "a semiconductor", "inertia",
                "a wave", "pressure", "energy", "a transistor", "a prism", "an electron", "a circuit"],
    "life": ["photosynthesis", "a vaccine", "a neuron", "an enzyme", "a virus", "osmosis", "a cell", "DNA",
             "a protein", "a bacterium", "the heart", "a gene", "an antibody", "a mitochondrion", "digestion",
             "a hormone", "a fungus", "pollination", "metabolism", "a chromosome", "an ecosystem", "a vitamin"],
    "earth": ["a volcano", "a glacier", "a rainbow", "erosion", "a hurricane", "a telescope", "a tide", "a desert",
              "a comet", "a river delta", "a cloud", "lightning", "a tsunami", "a planet", "the ozone layer",
              "a fossil", "a mineral", "a moon", "a canyon", "a monsoon", "a coral reef", "a galaxy"],
    "society": ["inflation", "democracy", "a contract", "a budget", "a tax", "a bank", "a loan", "a market",
                "a constitution", "a library", "a museum", "a court", "an election", "a union", "a patent",
                "a mortgage", "a currency", "a treaty", "an insurance policy", "a stock", "a newspaper", "a census"],
    "everyday": ["a bicycle", "a refrigerator", "a thermometer", "a clock", "a bridge", "a map", "an umbrella",
                 "a recipe", "a candle", "a compass", "an elevator", "a microwave oven", "a calendar", "a battery charger",
                 "a dictionary", "a passport", "a lighthouse", "a sewing machine", "a vacuum cleaner", "a ladder"],
}
HELD_OUT = ["a battery", "an earthquake", "a cache", "evolution", "a satellite", "a molecule", "a debt", "a thermostat",
            "a spider web", "a keyboard shortcut", "an island", "a jury", "a vein", "a modem", "a magnifying glass",
            "a pension"]
TEMPLATES = ["Explain what {} is in one sentence.", "In one sentence, what is {}?", "Describe {} in one sentence."]


def training_prompts(count: int) -> list[str]:
    """``count`` prompts, topics interleaved across categories, each phrasing in turn (every
    phrasing is in any 3 consecutive prompts; a topic comes back with another phrasing)."""
    topics = [t for group in zip(*TOPICS.values()) for t in group]
    topics += [t for group in TOPICS.values() for t in group if t not in topics]
    n = len(TEMPLATES)
    prompts = [TEMPLATES[(i + r) % n].format(t) for r in range(n) for i, t in enumerate(topics)]
    return prompts[:count]


def held_out_prompts(count: int = len(HELD_OUT)) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(t) for i, t in enumerate(HELD_OUT[:count])]
