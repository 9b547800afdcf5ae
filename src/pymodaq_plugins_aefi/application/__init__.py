"""Use cases of the AEFI bench; they know the domain ports only."""
