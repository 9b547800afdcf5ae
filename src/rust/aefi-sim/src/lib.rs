//! `aefi-sim`: simulators of the AEFI bench, faithful enough to test the flyscan against ground
//! truth. They implement the core's traits (`ByteLink`, `Detector`, `TruthSource`, `Stage`,
//! `LinkOpener`), so the engine runs on them through the same code paths as on hardware.
//!
//! - [`field`]: the known field map the simulated probe reads.
//! - [`arcus`]: the PMX-4EX-SA model (time-analytic motion, ground truth, faults).
//! - [`bench`](mod@bench): in-process benches keyed by `sim://NAME`, and the in-process link.
//! - [`board`]: the AEFI acquisition board (protocol, timing, field at the true probe position).
//! - [`board_bench`]: the board of each `sim://NAME` bench, reading its Arcus ground truth.
//! - [`board_link`]: the in-process link to a simulated board.
//! - [`detection`]: the detection chain (synchronous detection's low-pass, ADC filter delay).
//! - [`conformance`]: the checks every Arcus link must pass through the driver.
//! - [`opener`]: `sim://` links plus the core's real ports, behind one `LinkOpener`.
//! - [`probe`]: the virtual probe (the field at the true position) as an engine detector.
//! - [`fake_stage`]: an in-memory stage with analytic motion, for engine tests.
//! - [`trigger_bench`]: the trigger benchmark of `aefi-bench`.
//! - [`serve`]: the Arcus simulator served on TCP, and on a PTY pair (Unix).
//! - `board_serve` (Unix): the board simulator served on a PTY pair.
pub mod arcus;
pub mod bench;
pub mod board;
pub mod board_bench;
pub mod board_link;
pub mod board_serve; // Unix only: the file is `#![cfg(unix)]`
pub mod conformance;
pub mod detection;
pub mod fake_stage;
pub mod field;
pub mod opener;
pub mod probe;
pub mod serve;
pub mod trigger_bench;
