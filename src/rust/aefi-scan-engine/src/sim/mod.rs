//! Simulators of the bench hardware, faithful enough to test the flyscan against ground truth.
//!
//! - [`field`]: the known field map the simulated probe reads.
//! - [`arcus`]: the PMX-4EX-SA model (time-analytic motion, ground truth, faults).
//! - [`bench`]: in-process benches keyed by `sim://NAME`, and the in-process link.
//! - [`board`]: the AEFI acquisition board (protocol, timing, field at the true probe position).
//! - [`board_serve`]: the board simulator served on a pseudo-terminal.
pub mod arcus;
pub mod bench;
pub mod board;
pub mod board_serve;
pub mod field;
