"""gpt2lab: the machinery of the GPT-2 kata (catalogue, checker, reference builders, verdicts)."""
