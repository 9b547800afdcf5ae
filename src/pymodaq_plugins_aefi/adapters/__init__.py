"""Adapters: the only code that touches the Rust engine, PyMoDAQ widgets, HDF5 and hardware."""
