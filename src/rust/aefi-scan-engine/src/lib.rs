//! `aefi-scan-engine`: the real-time core of the AEFI flyscan (ADR-002, docs/decisions/0002-hybrid-rust-python-engine.md).
//!
//! Modules, each with one job (dependencies point down only):
//! - [`clock`]: one monotonic time base shared with Python (`time.monotonic_ns()`).
//! - [`lease`]: lend an open link to a scan; it comes back on every exit path.
//! - [`arcus`]: the Arcus PMX-4EX-SA protocol, framing and driver.
//! - [`transport`]: byte links with deadlines (serial, TCP, USB) and link URLs.
//! - [`board`]: the AEFI acquisition board: protocol, conversion, registers, timing, driver.
//! - [`engine`]: the flyscan executor (plan, position model, pacer, ring, detectors, threads).
//!
//! The crate has no PyO3 and no simulator in it: the simulators live in `aefi-sim` (they
//! implement this crate's traits), the bindings in `aefi-scan-engine-py`.

pub mod arcus;
pub mod board;
pub mod clock;
pub mod engine;
pub mod lease;
pub mod transport;
