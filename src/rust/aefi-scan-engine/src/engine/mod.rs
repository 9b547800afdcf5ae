//! The flyscan engine (ADR-002 §1: docs/decisions/0002-hybrid-rust-python-engine.md; seams: docs/architecture.md).
//!
//! - [`plan`]: the plan and its validation against the controller (before any motion).
//! - [`model`]: the commanded trapezoid fitted to stamped polls: a position for any instant.
//! - [`pacer`]: absolute-deadline pacing, lateness histogram, SCHED_FIFO/pinning attempt.
//! - [`record`]: the fixed-size record and the `rtrb` ring (drops counted, never silent).
//! - [`board_detector`]: the AEFI acquisition board polled back to back as the detector.
//! - [`detector`]: the detector trait; virtual probe, external stream, none.
//! - [`encoder`]: the encoder compared with the pulse counter at every poll (lost steps).
//! - [`stage`]: what the executor needs from the motion controller.
//! - [`trigger`]: the real-time trigger loop.
//! - [`executor`]: a scan in four verbs (prepare, kickoff, complete, collect) and abort; a motion
//!   thread and a trigger thread per scan.
//! - [`fault`]: why a scan was refused or failed (the executor's one error type).
//! - [`plausibility`]: a position reading checked against the physics before the model uses it.
//! - [`physics`]: the physical minimum time of a plan (the scan's efficiency).
//! - [`stats`]: state, progress and final statistics.
//! - [`arcus_stage`]: the Arcus driver as a [`stage::Stage`].
pub mod arcus_stage;
pub mod board_detector;
pub mod detector;
pub mod encoder;
pub mod executor;
pub mod fault;
pub mod model;
pub mod pacer;
pub mod physics;
pub mod plan;
pub mod plausibility;
pub mod record;
pub mod rt;
#[cfg(windows)]
mod rt_windows;
pub mod stage;
pub mod stats;
pub mod trigger;
