//! The Arcus PMX-4EX-SA as the executor's [`Stage`].
//!
//! Wraps the driver (owned, or a lent link from the `ArcusController`'s lease) and adds what the
//! position model needs: the byte time of the link and the controller turnaround (from the link
//! URL: the baud of a serial line, a wire-timed simulator's settings), the frame sizes of each
//! exchange, and the counter convention (the pulse counter counts emitted pulses, so the true
//! position is half a step ahead of it on average along the motion).
use super::model::{LinkTiming, Poll};
use super::plan::{Axis, AxisSpeeds};
use super::stage::{AxisMotion, Latch, Stage, StageError, StageErrorKind};
use crate::arcus::driver::{ArcusController, ArcusError};
use crate::arcus::framing::wire_time_ns;
use crate::arcus::protocol::{AxisStatus, Command, Reply, SpeedParam, SyncRegister};
use crate::transport::{LinkUrl, SimTiming, TransportError};
use std::ops::DerefMut;
use std::time::Duration;

/// The engine's axis as the driver's.
pub fn arcus_axis(a: Axis) -> crate::arcus::protocol::Axis {
    use crate::arcus::protocol::Axis as A;
    match a {
        Axis::X => A::X,
        Axis::Y => A::Y,
        Axis::Z => A::Z,
        Axis::U => A::U,
    }
}

/// A driver error as a stage error.
pub fn stage_error(e: ArcusError) -> StageError {
    let message = e.to_string();
    match e {
        ArcusError::Transport { source, .. } => {
            let kind = match source {
                TransportError::Timeout { .. } => StageErrorKind::Timeout,
                TransportError::PortBusy { .. } => StageErrorKind::Busy,
                _ => StageErrorKind::Link,
            };
            StageError::new(kind, message)
        }
        ArcusError::Protocol { .. } => StageError::new(StageErrorKind::Protocol, message),
        ArcusError::Controller { error, .. } => StageError::controller(error.code(), message),
        ArcusError::WaitTimeout { .. } => StageError::new(StageErrorKind::Timeout, message),
        _ => StageError::new(StageErrorKind::Controller, message),
    }
}

/// Link timing of a driver, from its URL (and the simulator's turnaround for `sim://`).
pub fn link_timing(ctrl: &ArcusController) -> LinkTiming {
    let (byte_time_ns, turnaround_ns) = match LinkUrl::parse(ctrl.url()) {
        Ok(LinkUrl::Sim { baud, timing: SimTiming::Wire, .. }) => (wire_time_ns(1000, baud) as f64 / 1000.0, ctrl.device_turnaround_ns()),
        Ok(LinkUrl::Serial { baud, .. }) => (wire_time_ns(1000, baud) as f64 / 1000.0, 0.0),
        _ => (0.0, 0.0),
    };
    LinkTiming { byte_time_ns, turnaround_ns, counter_bias_steps: 0.5 }
}

/// An axis' MST word as a motion state (latched errors first: a latched axis refuses to move).
fn axis_motion(s: AxisStatus) -> AxisMotion {
    let latch = Latch {
        plus_limit: s.contains(AxisStatus::PLUS_LIMIT_ERROR),
        minus_limit: s.contains(AxisStatus::MINUS_LIMIT_ERROR),
        alarm: s.contains(AxisStatus::ALARM_ERROR),
    };
    if latch.any() {
        AxisMotion::Fault(latch)
    } else if s.is_moving() {
        AxisMotion::Moving
    } else {
        AxisMotion::Idle
    }
}

/// Attempts of an idempotent query (position, status) before the link counts as lost.
const QUERY_ATTEMPTS: u32 = 3;
/// Floor of an idempotent query's reply timeout: a USB-serial adapter's latency timer (16 ms by
/// default) and the scheduler's jitter come on top of the wire model.
const QUERY_TIMEOUT_FLOOR_NS: i64 = 30_000_000;

/// Whether a failed exchange may be asked again: no reply in time, or a reply that does not parse
/// (line noise). A controller's `?…` refusal is an answer, never retried.
fn retryable(e: &ArcusError) -> bool {
    matches!(e, ArcusError::Protocol { .. } | ArcusError::Transport { source: TransportError::Timeout { .. }, .. })
}

/// The Arcus behind `C` (an owned driver or a lent one) as a [`Stage`].
///
/// Idempotent queries (positions, status) that time out or come back garbled are asked again
/// (the driver discards the stale input first), each within a reply timeout of four modelled round
/// trips (at least 30 ms, at most the driver's), [`QUERY_ATTEMPTS`] times in all; then the error
/// goes on as a lost link. Motion commands are never sent twice.
#[derive(Debug)]
pub struct ArcusStage<C> {
    ctrl: C,
    timing: LinkTiming,
    wire_limit_hz: f64,
    absolute_mode_sent: bool,
    query_timeout: Duration,
    retries: u64,
}

impl<C: DerefMut<Target = ArcusController>> ArcusStage<C> {
    /// Wraps a driver.
    pub fn new(ctrl: C) -> Self {
        let timing = link_timing(&ctrl);
        let wire_limit_hz = ctrl.wire_limit_hz().filter(|_| timing.byte_time_ns > 0.0).unwrap_or(f64::INFINITY);
        // The longest idempotent query: MST, 4 axes' status words.
        let model_ns = ctrl.round_trip_model_ns(3, 24).unwrap_or(0);
        let query_timeout = Duration::from_nanos((4 * model_ns).max(QUERY_TIMEOUT_FLOOR_NS) as u64).min(ctrl.timeout());
        Self { ctrl, timing, wire_limit_hz, absolute_mode_sent: false, query_timeout, retries: 0 }
    }

    fn with_timeout<T>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&mut ArcusController) -> Result<T, ArcusError>,
    ) -> Result<T, StageError> {
        let normal = self.ctrl.timeout();
        self.ctrl.set_timeout(timeout);
        let result = f(&mut self.ctrl);
        self.ctrl.set_timeout(normal);
        result.map_err(stage_error)
    }

    /// Runs the idempotent query `f`, again on a timeout or a garbled reply, within the query timeout.
    fn query<T>(&mut self, mut f: impl FnMut(&mut ArcusController) -> Result<T, ArcusError>) -> Result<T, StageError> {
        let normal = self.ctrl.timeout();
        self.ctrl.set_timeout(self.query_timeout);
        let mut attempt = 1;
        let result = loop {
            match f(&mut self.ctrl) {
                Err(e) if retryable(&e) && attempt < QUERY_ATTEMPTS => {
                    attempt += 1;
                    self.retries += 1;
                }
                other => break other,
            }
        };
        self.ctrl.set_timeout(normal);
        result.map_err(stage_error)
    }

    fn int(&mut self, cmd: &Command) -> Result<i64, StageError> {
        match self.ctrl.transact(cmd).map_err(stage_error)? {
            Reply::Int(v) => Ok(v),
            other => Err(StageError::new(StageErrorKind::Protocol, format!("{}: expected a number, got {other:?}", cmd.encode()))),
        }
    }

    fn stamp(&self, cmd: &Command, t_send_ns: i64, t_recv_ns: i64, reply_len: usize) -> Poll {
        let f = self.ctrl.framing();
        Poll {
            steps: 0,
            t_send_ns,
            t_recv_ns,
            bytes_out: f.command_wire_bytes(cmd.encode().len()) as u32,
            bytes_in: f.reply_wire_bytes(reply_len) as u32,
        }
    }
}

impl<C: DerefMut<Target = ArcusController> + Send> Stage for ArcusStage<C> {
    fn timing(&self) -> LinkTiming {
        self.timing
    }

    fn wire_limit_hz(&self) -> f64 {
        self.wire_limit_hz
    }

    fn speeds(&mut self, axis: Axis) -> Result<AxisSpeeds, StageError> {
        let s = self.ctrl.speeds(arcus_axis(axis)).map_err(stage_error)?;
        let edec = self.int(&Command::GetEdec)?;
        let dec_ms = if edec == 0 { s.accel_ms } else { s.decel_ms };
        Ok(AxisSpeeds { ls_pps: s.low_speed_pps as f64, hs_pps: s.high_speed_pps as f64, acc_ms: s.accel_ms as f64, dec_ms: dec_ms as f64 })
    }

    fn set_axis_high_speed(&mut self, axis: Axis, raw_pps: f64) -> Result<f64, StageError> {
        let a = arcus_axis(axis);
        let prev = self.int(&Command::GetParam(SpeedParam::HighSpeed, Some(a)))?;
        self.ctrl.transact(&Command::SetParam(SpeedParam::HighSpeed, Some(a), raw_pps.round() as i64)).map_err(stage_error)?;
        Ok(prev as f64)
    }

    fn move_to(&mut self, axis: Axis, target_steps: i64) -> Result<Poll, StageError> {
        if !self.absolute_mode_sent {
            self.ctrl.transact(&Command::Absolute).map_err(stage_error)?;
            self.absolute_mode_sent = true;
        }
        let cmd = Command::Move(vec![(arcus_axis(axis), target_steps)]);
        let r = self.ctrl.transact_timed(&cmd).map_err(stage_error)?;
        let mut p = self.stamp(&cmd, r.t_send_ns, r.t_recv_ns, 2);
        p.steps = target_steps;
        Ok(p)
    }

    fn poll(&mut self, axis: Axis) -> Result<Poll, StageError> {
        let a = arcus_axis(axis);
        let r = self.query(|c| c.position_timed(a))?;
        let mut p = self.stamp(&Command::GetPosition(a), r.t_send_ns, r.t_recv_ns, r.value.to_string().len());
        p.steps = r.value;
        Ok(p)
    }

    fn poll_encoder(&mut self, axis: Axis) -> Result<Poll, StageError> {
        let a = arcus_axis(axis);
        let r = self.ctrl.encoder_timed(a).map_err(stage_error)?;
        let mut p = self.stamp(&Command::GetEncoder(a), r.t_send_ns, r.t_recv_ns, r.value.to_string().len());
        p.steps = r.value;
        Ok(p)
    }

    fn setup_sync(&mut self, axis: Axis, condition: i64, width_ms: i64) -> Result<(), StageError> {
        let a = arcus_axis(axis);
        self.ctrl.transact(&Command::SetSyncRegister(a, SyncRegister::Condition, condition)).map_err(stage_error)?;
        self.ctrl.transact(&Command::SetSyncRegister(a, SyncRegister::Width, width_ms)).map_err(stage_error)?;
        Ok(())
    }

    fn arm_sync(&mut self, axis: Axis, position_counts: i64) -> Result<(), StageError> {
        let a = arcus_axis(axis);
        self.ctrl.transact(&Command::SetSyncRegister(a, SyncRegister::Position, position_counts)).map_err(stage_error)?;
        // `SYN[axis]O` (re-)arms: the status goes back to 1, waiting.
        self.ctrl.transact(&Command::SetSync(a, true)).map_err(stage_error)?;
        Ok(())
    }

    fn poll_sync(&mut self, axis: Axis) -> Result<Poll, StageError> {
        let cmd = Command::GetSyncStatus(arcus_axis(axis));
        let r = self.query(|c| c.transact_timed(&cmd))?;
        let status = match r.value {
            Reply::Int(v) => v,
            other => return Err(StageError::new(StageErrorKind::Protocol, format!("{}: expected 0, 1 or 2, got {other:?}", cmd.encode()))),
        };
        let mut p = self.stamp(&cmd, r.t_send_ns, r.t_recv_ns, status.to_string().len());
        p.steps = status;
        Ok(p)
    }

    fn disarm_sync(&mut self, axis: Axis) -> Result<(), StageError> {
        self.ctrl.transact(&Command::SetSync(arcus_axis(axis), false)).map_err(stage_error)?;
        Ok(())
    }

    fn motion(&mut self, axis: Axis) -> Result<AxisMotion, StageError> {
        let a = arcus_axis(axis);
        Ok(axis_motion(self.query(|c| c.axis_status(a))?))
    }

    fn motions(&mut self, axes: &[Axis]) -> Result<Vec<AxisMotion>, StageError> {
        // MST reports every axis: one transaction for all of them.
        let st = self.query(|c| c.status())?;
        Ok(axes.iter().map(|&a| axis_motion(st.axis(arcus_axis(a)))).collect())
    }

    fn link_retries(&self) -> u64 {
        self.retries
    }

    fn max_reply_age_ns(&self) -> i64 {
        // a late reply answers one of the last few attempts, each given the query timeout
        i64::from(QUERY_ATTEMPTS).saturating_mul(self.query_timeout.as_nanos().min(i64::MAX as u128) as i64)
    }

    fn stop_all(&mut self) -> Result<i64, StageError> {
        // The frame is on the wire at once; its reply is awaited no longer than a query's, so that
        // a lost link does not hold the scan's end for the driver's whole timeout.
        let short = self.query_timeout;
        Ok(self.with_timeout(short, |c| c.stop(None))?.t_send_ns)
    }

    fn abort_all(&mut self) -> Result<i64, StageError> {
        let short = self.query_timeout;
        Ok(self.with_timeout(short, |c| c.abort(None))?.t_send_ns)
    }
}
