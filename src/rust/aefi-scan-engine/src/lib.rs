//! `aefi-scan-engine`: the real-time core of the AEFI flyscan (ADR-002).
//!
//! Layering (dependencies point down only):
//! - [`clock`]: one monotonic time base shared with Python (`time.monotonic_ns()`).
//!
//! The crate has no PyO3 in it; the bindings live in `aefi-scan-engine-py`.

pub mod clock;
