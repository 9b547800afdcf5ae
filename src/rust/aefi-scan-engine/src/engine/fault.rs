//! Why a scan was refused or ended `failed`: the one error type of the executor.
//!
//! Every verb of the executor (`prepare`, `kickoff`, `complete`, `collect`) returns a
//! [`ScanFault`], and a failed scan's statistics carry one. The variants say what went wrong in
//! the engine's terms; the bindings map each variant to their own exception classes (the Python
//! tree lives in the PyO3 crate's `errors.rs`, nowhere else).
use super::detector::DetectorError;
use super::encoder::SlipError;
use super::plan::{Axis, PlanError};
use super::stage::{Latch, StageError};

/// How a latched error is cleared, for the messages that name one.
pub const CLEAR_HINT: &str = "clear it (the move plugin's Clear error, `aefi-flyscan --clear-errors`, or CLR)";

/// Why `prepare` refused an axis before any motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisRefusal {
    /// The axis has latched errors (a limit switch or the alarm was hit).
    Latched(Latch),
    /// The axis is already moving.
    Moving,
}

impl std::fmt::Display for AxisRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AxisRefusal::Latched(latch) => write!(f, "{latch}; {CLEAR_HINT} and prepare again"),
            AxisRefusal::Moving => write!(f, "is moving; stop it and prepare again"),
        }
    }
}

/// A typed scan fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanFault {
    /// The plan was refused (nothing moved).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The pre-flight check found an axis the plan uses unable to fly (nothing moved).
    #[error("axis {}: {refusal} (refused before any motion)", axis.letter())]
    AxisRefused {
        /// The axis.
        axis: Axis,
        /// What is wrong with it.
        refusal: AxisRefusal,
    },
    /// An axis latched an error (limit switch, alarm) during the scan; the motors were stopped.
    #[error("axis {}: {latch} at {:.3} mm ({at_steps} steps) during the scan; the motors were stopped; {CLEAR_HINT}",
            axis.letter(), *at_steps as f64 * step_um * 1e-3)]
    AxisLatched {
        /// The axis.
        axis: Axis,
        /// What it latched.
        latch: Latch,
        /// Where the axis was last seen (steps).
        at_steps: i64,
        /// The step size, for the position in mm (µm).
        step_um: f64,
    },
    /// The encoder of an axis fell behind (or ahead of) its pulse counter: steps were lost; the
    /// motors were stopped.
    #[error(transparent)]
    EncoderSlip(#[from] SlipError),
    /// The motion controller failed: its link, a reply, a refusal, an axis that stopped short.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The detector failed (its link, its replies) or could not be armed.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// An abort request ended the verb (e.g. `prepare` during the move to the start).
    #[error("the scan was aborted")]
    Aborted,
    /// A verb called in a state that does not allow it (e.g. `kickoff` before `prepare`).
    #[error("{0}")]
    Lifecycle(String),
    /// The engine itself failed: a scan thread could not start, stopped taking messages or panicked.
    #[error("{0}")]
    Engine(String),
}

impl ScanFault {
    /// A verb called out of order.
    pub fn lifecycle(message: impl Into<String>) -> Self {
        ScanFault::Lifecycle(message.into())
    }

    /// An engine failure.
    pub fn engine(message: impl Into<String>) -> Self {
        ScanFault::Engine(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stage::StageErrorKind;

    #[test]
    fn messages_name_the_axis_and_the_latch() {
        let latch = Latch { plus_limit: true, ..Latch::default() };
        let refused = ScanFault::AxisRefused { axis: Axis::Y, refusal: AxisRefusal::Latched(latch) };
        let text = refused.to_string();
        assert!(text.starts_with("axis Y: + limit error latched"), "{text}");
        assert!(text.contains("before any motion"), "{text}");
        let moving = ScanFault::AxisRefused { axis: Axis::X, refusal: AxisRefusal::Moving }.to_string();
        assert!(moving.contains("axis X: is moving"), "{moving}");
        let both = Latch { minus_limit: true, alarm: true, ..Latch::default() };
        assert_eq!(both.to_string(), "- limit and alarm error latched");
        assert_eq!(both.code(), "ALARM");
        assert_eq!(latch.code(), "LIMIT");
    }

    #[test]
    fn wrapped_errors_keep_their_message() {
        let stage = StageError::new(StageErrorKind::Timeout, "no reply from @00 within 50 ms");
        assert_eq!(ScanFault::from(stage.clone()).to_string(), stage.message);
        let plan = PlanError::new("lines", "0 is outside 1..=100000");
        assert_eq!(ScanFault::from(plan.clone()).to_string(), plan.to_string());
    }
}
