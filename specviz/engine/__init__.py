"""The live generation engine: drafters, targets, the speculative loop, metrics, recording."""
