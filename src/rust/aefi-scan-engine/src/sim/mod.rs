//! Simulators of the bench hardware, faithful enough to test the flyscan against ground truth.
//!
//! - [`field`]: the known field map the simulated probe reads.
//! - [`arcus`]: the PMX-4EX-SA model (time-analytic motion, ground truth, faults).
//! - [`bench`](mod@bench): in-process benches keyed by `sim://NAME`, and the in-process link.
//! - [`board`]: the AEFI acquisition board (protocol, timing, field at the true probe position).
//! - [`board_bench`]: the board of each `sim://NAME` bench, reading its Arcus ground truth.
//! - [`board_link`]: the in-process link to a simulated board.
//! - [`serve`]: the Arcus simulator served on a PTY pair or on TCP.
//! - [`board_serve`]: the board simulator served on a pseudo-terminal.
pub mod arcus;
pub mod bench;
pub mod board;
pub mod board_bench;
pub mod board_link;
pub mod board_serve;
pub mod field;
pub mod serve;
