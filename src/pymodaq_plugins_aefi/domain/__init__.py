"""The AEFI flyscan domain: pure Python and numpy (no PyMoDAQ, Qt, h5py or Rust module)."""
