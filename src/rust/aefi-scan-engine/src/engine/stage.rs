//! What the executor needs from the motion controller: the [`Stage`] trait.
//!
//! The executor drives any stage through this small trait (the Arcus driver implements it; tests
//! use `aefi_sim::fake_stage::FakeStage`). Every call is one wire transaction (or a few) and returns
//! typed errors; position queries come back stamped ([`Poll`]) so the position model can place
//! them in time.
use super::model::{LinkTiming, Poll};
use super::plan::{Axis, AxisSpeeds};

/// The kind of a stage failure (the bindings map each kind to an exception class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageErrorKind {
    /// No (complete) reply before the deadline.
    Timeout,
    /// The link failed (I/O error, disconnected).
    Link,
    /// The port is held by someone else.
    Busy,
    /// A reply that does not parse.
    Protocol,
    /// The controller answered `?…` (a refused command, a latched limit, ...).
    Controller,
}

/// A stage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    /// What kind.
    pub kind: StageErrorKind,
    /// The controller's code for `Controller` errors (`LIMIT`, `PULSING`, ...).
    pub code: Option<String>,
    /// Human-readable description.
    pub message: String,
}

impl StageError {
    /// An error of `kind`.
    pub fn new(kind: StageErrorKind, message: impl Into<String>) -> Self {
        Self { kind, code: None, message: message.into() }
    }

    /// A controller refusal with its code.
    pub fn controller(code: &str, message: impl Into<String>) -> Self {
        Self { kind: StageErrorKind::Controller, code: Some(code.to_string()), message: message.into() }
    }
}

/// The errors an axis has latched (they stay until cleared, e.g. `CLR` on the Arcus); while one
/// is latched the axis refuses to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latch {
    /// The + limit switch was hit.
    pub plus_limit: bool,
    /// The − limit switch was hit.
    pub minus_limit: bool,
    /// The drive's alarm input fired.
    pub alarm: bool,
}

impl Latch {
    /// True when something is latched.
    pub fn any(self) -> bool {
        self.plus_limit || self.minus_limit || self.alarm
    }

    /// The controller's refusal code for a move on this axis (`ALARM` or `LIMIT`).
    pub fn code(self) -> &'static str {
        if self.alarm {
            "ALARM"
        } else {
            "LIMIT"
        }
    }
}

impl std::fmt::Display for Latch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [(self.plus_limit, "+ limit"), (self.minus_limit, "- limit"), (self.alarm, "alarm")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if names.is_empty() {
            write!(f, "nothing latched")
        } else {
            write!(f, "{} error latched", names.join(" and "))
        }
    }
}

/// The motion state of one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisMotion {
    /// Not pulsing.
    Idle,
    /// Pulsing.
    Moving,
    /// Stopped by a latched error (limit, alarm).
    Fault(Latch),
}

fn no_sync(axis: Axis) -> StageError {
    StageError::new(StageErrorKind::Protocol, format!("axis {}: this stage has no position-compare output", axis.letter()))
}

/// A motion controller as the flyscan executor drives it.
pub trait Stage: Send {
    /// Timing of the link, to place polls in time.
    fn timing(&self) -> LinkTiming;

    /// Position polls per second the wire allows (the wire limit; f64::INFINITY when unknown).
    fn wire_limit_hz(&self) -> f64;

    /// The speeds the controller applies to a single-axis move of `axis` (global fallback resolved).
    ///
    /// # Errors
    /// Link or controller failures.
    fn speeds(&mut self, axis: Axis) -> Result<AxisSpeeds, StageError>;

    /// Sets the per-axis high speed of `axis` (raw value, 0 = use the global); returns the raw
    /// value it replaced.
    ///
    /// # Errors
    /// Link or controller failures.
    fn set_axis_high_speed(&mut self, axis: Axis, raw_pps: f64) -> Result<f64, StageError>;

    /// Starts an absolute move; the returned stamps (steps = target) say when the command went.
    ///
    /// # Errors
    /// Link failures, controller refusals (`PULSING`, `LIMIT`, ...).
    fn move_to(&mut self, axis: Axis, target_steps: i64) -> Result<Poll, StageError>;

    /// One stamped position query.
    ///
    /// # Errors
    /// Link or protocol failures.
    fn poll(&mut self, axis: Axis) -> Result<Poll, StageError>;

    /// One stamped encoder query (`steps` holds the raw counts). A stage without encoders
    /// refuses it.
    ///
    /// # Errors
    /// Link or protocol failures; `Protocol` when the stage has no encoder reading.
    fn poll_encoder(&mut self, axis: Axis) -> Result<Poll, StageError> {
        Err(StageError::new(StageErrorKind::Protocol, format!("axis {}: this stage has no encoder reading", axis.letter())))
    }

    /// Sets up the position-compare output of `axis` (the Arcus `SYN`: the encoder counter
    /// compared with a position drives a digital output): `condition` (1 equal, 2 below, 3 above)
    /// and the output pulse width (ms). A stage without one refuses.
    ///
    /// # Errors
    /// Link or controller failures; `Protocol` when the stage has no compare output.
    fn setup_sync(&mut self, axis: Axis, condition: i64, width_ms: i64) -> Result<(), StageError> {
        let _ = (condition, width_ms);
        Err(no_sync(axis))
    }

    /// Arms (or re-arms) the compare output of `axis` at encoder count `position_counts`: its
    /// status goes back to waiting.
    ///
    /// # Errors
    /// Link or controller failures; `Protocol` when the stage has no compare output.
    fn arm_sync(&mut self, axis: Axis, position_counts: i64) -> Result<(), StageError> {
        let _ = position_counts;
        Err(no_sync(axis))
    }

    /// One stamped query of the compare status of `axis` (`steps` holds 0 off, 1 waiting,
    /// 2 occurred).
    ///
    /// # Errors
    /// Link or protocol failures; `Protocol` when the stage has no compare output.
    fn poll_sync(&mut self, axis: Axis) -> Result<Poll, StageError> {
        Err(no_sync(axis))
    }

    /// Turns the compare output of `axis` off (its digital output is free again).
    ///
    /// # Errors
    /// Link or controller failures.
    fn disarm_sync(&mut self, axis: Axis) -> Result<(), StageError> {
        Err(no_sync(axis))
    }

    /// Motion state of `axis`.
    ///
    /// # Errors
    /// Link or protocol failures.
    fn motion(&mut self, axis: Axis) -> Result<AxisMotion, StageError>;

    /// Idempotent queries asked again after a timeout or a garbled reply, so far.
    fn link_retries(&self) -> u64 {
        0
    }

    /// How much older than its exchange a reply may be (ns): replies carry no sequence number,
    /// so the late reply of a timed-out query can be read as the answer to a later one.
    fn max_reply_age_ns(&self) -> i64 {
        0
    }

    /// Motion states of several axes, in the order given (a controller that reports every axis
    /// in one status query answers in one transaction).
    ///
    /// # Errors
    /// Link or protocol failures.
    fn motions(&mut self, axes: &[Axis]) -> Result<Vec<AxisMotion>, StageError> {
        axes.iter().map(|&a| self.motion(a)).collect()
    }

    /// Decelerated stop of every axis; returns the send stamp (ns).
    ///
    /// # Errors
    /// Link failures.
    fn stop_all(&mut self) -> Result<i64, StageError>;

    /// Immediate stop of every axis (no ramp); returns the send stamp (ns).
    ///
    /// # Errors
    /// Link failures.
    fn abort_all(&mut self) -> Result<i64, StageError>;
}

impl<T: Stage + ?Sized> Stage for Box<T> {
    fn timing(&self) -> LinkTiming {
        (**self).timing()
    }
    fn wire_limit_hz(&self) -> f64 {
        (**self).wire_limit_hz()
    }
    fn speeds(&mut self, axis: Axis) -> Result<AxisSpeeds, StageError> {
        (**self).speeds(axis)
    }
    fn set_axis_high_speed(&mut self, axis: Axis, raw_pps: f64) -> Result<f64, StageError> {
        (**self).set_axis_high_speed(axis, raw_pps)
    }
    fn move_to(&mut self, axis: Axis, target_steps: i64) -> Result<Poll, StageError> {
        (**self).move_to(axis, target_steps)
    }
    fn poll(&mut self, axis: Axis) -> Result<Poll, StageError> {
        (**self).poll(axis)
    }
    fn poll_encoder(&mut self, axis: Axis) -> Result<Poll, StageError> {
        (**self).poll_encoder(axis)
    }
    fn setup_sync(&mut self, axis: Axis, condition: i64, width_ms: i64) -> Result<(), StageError> {
        (**self).setup_sync(axis, condition, width_ms)
    }
    fn arm_sync(&mut self, axis: Axis, position_counts: i64) -> Result<(), StageError> {
        (**self).arm_sync(axis, position_counts)
    }
    fn poll_sync(&mut self, axis: Axis) -> Result<Poll, StageError> {
        (**self).poll_sync(axis)
    }
    fn disarm_sync(&mut self, axis: Axis) -> Result<(), StageError> {
        (**self).disarm_sync(axis)
    }
    fn motion(&mut self, axis: Axis) -> Result<AxisMotion, StageError> {
        (**self).motion(axis)
    }
    fn motions(&mut self, axes: &[Axis]) -> Result<Vec<AxisMotion>, StageError> {
        (**self).motions(axes)
    }
    fn link_retries(&self) -> u64 {
        (**self).link_retries()
    }
    fn max_reply_age_ns(&self) -> i64 {
        (**self).max_reply_age_ns()
    }
    fn stop_all(&mut self) -> Result<i64, StageError> {
        (**self).stop_all()
    }
    fn abort_all(&mut self) -> Result<i64, StageError> {
        (**self).abort_all()
    }
}
