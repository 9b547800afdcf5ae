//! `aefi-scan-engine`: the real-time core of the AEFI flyscan (ADR-002).
//!
//! Modules, each with one job (dependencies point down only):
//! - [`clock`]: one monotonic time base shared with Python (`time.monotonic_ns()`).
//! - [`lease`]: lend an open link to a scan; it comes back on every exit path.
//! - [`arcus`]: the Arcus PMX-4EX-SA protocol, framing and driver.
//! - [`transport`]: byte links with deadlines (serial, TCP, USB) and link URLs.
//! - [`sim`]: simulators of the bench hardware and the known field map.
//!
//! The crate has no PyO3 in it; the bindings live in `aefi-scan-engine-py`.

pub mod arcus;
pub mod clock;
pub mod lease;
pub mod sim;
pub mod transport;
