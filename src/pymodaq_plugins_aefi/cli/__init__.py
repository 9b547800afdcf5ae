"""Headless command-line entry points (aefi-flyscan, aefi-bench, aefi-arcus-sim, ...)."""
