//! `aefi-scan-engine`: the real-time core of the AEFI flyscan (ADR-002).
//!
//! Modules, each with one job (dependencies point down only):
//! - [`clock`]: one monotonic time base shared with Python (`time.monotonic_ns()`).
//! - [`lease`]: lend an open link to a scan; it comes back on every exit path.
//! - [`arcus`]: the Arcus PMX-4EX-SA protocol, framing and driver.
//! - [`transport`]: byte links with deadlines (serial, TCP, USB) and link URLs.
//! - [`board`]: the AEFI acquisition board: protocol, conversion, registers, timing, driver.
//! - [`sim`]: simulators of the bench hardware and the known field map.
//! - [`engine`]: the flyscan executor (plan, position model, pacer, ring, detectors, threads).
//!
//! The crate has no PyO3 in it; the bindings live in `aefi-scan-engine-py`.

pub mod arcus;
pub mod board;
pub mod clock;
pub mod engine;
pub mod lease;
pub mod sim;
pub mod transport;
