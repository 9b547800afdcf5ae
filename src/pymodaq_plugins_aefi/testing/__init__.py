"""Test doubles of the domain's ports, usable from any test suite (pure Python, no engine, no PyMoDAQ)."""
