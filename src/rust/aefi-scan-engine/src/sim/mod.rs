//! Simulators of the bench hardware, faithful enough to test the flyscan against ground truth.
//!
//! - [`field`]: the known field map the simulated probe reads.
//! - [`board`]: the AEFI acquisition board (protocol, timing, field at the true probe position).
pub mod board;
pub mod field;
