//! The flyscan engine (ADR-002 §1: docs/decisions/0002-hybrid-rust-python-engine.md; seams: docs/architecture.md).
//!
//! - [`plan`]: the plan and its validation against the controller (before any motion).
//! - [`model`]: the commanded trapezoid fitted to stamped polls: a position for any instant.
//! - [`pacer`]: absolute-deadline pacing, lateness histogram, SCHED_FIFO/pinning attempt.
//! - [`record`]: the fixed-size record and the `rtrb` ring (drops counted, never silent).
//! - [`board_detector`]: the AEFI acquisition board polled back to back as the detector.
//! - [`detector`]: the detector trait; virtual probe, external stream, none.
//! - [`stage`]: what the executor needs from the motion controller.
//! - [`trigger`]: the real-time trigger loop.
//! - [`executor`]: one scan = a motion thread and a trigger thread; progress, drain, abort, join.
//! - [`stats`]: state, progress and final statistics.
//! - [`arcus_stage`]: the Arcus driver as a [`stage::Stage`].
pub mod arcus_stage;
pub mod board_detector;
pub mod detector;
pub mod executor;
pub mod model;
pub mod pacer;
pub mod plan;
pub mod record;
pub mod rt;
pub mod stage;
pub mod stats;
pub mod trigger;
