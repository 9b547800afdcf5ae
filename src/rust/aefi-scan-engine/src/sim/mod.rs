//! Simulators of the bench hardware, faithful enough to test the flyscan against ground truth.
//!
//! - [`field`]: the known field map the simulated probe reads.
pub mod field;
