//! Simulators of the bench hardware, faithful enough to test the flyscan against ground truth.
//!
//! - [`field`]: the known field map the simulated probe reads.
//! - [`board`]: the AEFI acquisition board (protocol, timing, field at the true probe position).
//! - [`board_serve`]: the board simulator served on a pseudo-terminal.
pub mod board;
pub mod board_serve;
pub mod field;
