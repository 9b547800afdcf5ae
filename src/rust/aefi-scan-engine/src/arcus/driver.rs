//! `ArcusController`: typed PMX-4EX-SA operations over one boxed [`ByteLink`] and its framing.
//!
//! Every exchange is one command and one reply, stamped with `mono_ns` at send and at receive
//! ([`Timed`]); the midpoint is the sample instant of the positions in the reply, the
//! half-width its uncertainty. Bad arguments are refused before anything is sent. A `?…` reply
//! becomes [`ArcusError::Controller`]; after a timeout or a garbled reply the input is flushed
//! before the next exchange, so a late reply cannot answer the wrong command.
//!
//! The controller is `Send`: the flyscan engine holds it on its own thread through
//! `lease::Lent`.
use std::time::Duration;

use super::framing::{wire_time_ns, Framing};
use super::protocol::{parse_reply, Axis, AxisStatus, Command, ControllerError, MotorStatus, ProtocolError, Reply, SpeedParam};
use crate::transport::{ByteLink, LinkOpener, TransportError};

/// A value with the `mono_ns` stamps of the exchange that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed<T> {
    /// The value.
    pub value: T,
    /// Just before the command's first byte was written.
    pub t_send_ns: i64,
    /// When the reply's terminator was received.
    pub t_recv_ns: i64,
}

impl<T> Timed<T> {
    /// Midpoint of the exchange: the best estimate of when the value was sampled.
    pub fn midpoint_ns(&self) -> i64 {
        self.t_send_ns + (self.t_recv_ns - self.t_send_ns) / 2
    }

    /// Half the round trip: the uncertainty of the sample instant.
    pub fn half_width_ns(&self) -> i64 {
        (self.t_recv_ns - self.t_send_ns) / 2
    }

    /// The same stamps on another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Timed<U> {
        Timed { value: f(self.value), t_send_ns: self.t_send_ns, t_recv_ns: self.t_recv_ns }
    }
}

/// Every error of the Arcus driver; messages name the port and the command.
#[derive(Debug, thiserror::Error)]
pub enum ArcusError {
    /// The link failed (open, write, read, timeout).
    #[error("{command} on {port}: {source}")]
    Transport {
        /// Port or URL.
        port: String,
        /// Command text (or "open").
        command: String,
        /// The transport error.
        #[source]
        source: TransportError,
    },
    /// The reply could not be read, or was of the wrong kind.
    #[error("{command} on {port}: {source}")]
    Protocol {
        /// Port.
        port: String,
        /// Command text.
        command: String,
        /// The protocol error.
        #[source]
        source: ProtocolError,
    },
    /// The controller answered `?…`.
    #[error("{command} on {port}: controller answered {}", error.reply_text())]
    Controller {
        /// Port.
        port: String,
        /// Command text.
        command: String,
        /// The controller's error.
        error: ControllerError,
    },
    /// A bad argument, refused before anything was sent.
    #[error("invalid {parameter}: {message}")]
    InvalidArgument {
        /// The parameter.
        parameter: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An axis was still moving at the deadline of `wait_idle`.
    #[error("{port}: axis {axes} still moving after {waited_s:.1} s")]
    WaitTimeout {
        /// Port.
        port: String,
        /// The axes waited for.
        axes: String,
        /// How long it waited.
        waited_s: f64,
    },
}

/// Effective speed settings of an axis: per-axis values where non-zero, else the global ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speeds {
    /// HS, pulses/s.
    pub high_speed_pps: i64,
    /// LS, pulses/s.
    pub low_speed_pps: i64,
    /// ACC, ms.
    pub accel_ms: i64,
    /// DEC, ms.
    pub decel_ms: i64,
}

pub use super::limits::{MAX_SPEED_PPS, POSITION_RANGE};

/// Typed operations on one PMX-4EX-SA link.
#[derive(Debug)]
pub struct ArcusController {
    link: Box<dyn ByteLink>,
    framing: Framing,
    timeout_ns: i64,
    url: String,
    dirty: bool,
}

fn invalid(parameter: &str, message: String) -> ArcusError {
    ArcusError::InvalidArgument { parameter: parameter.into(), message }
}

impl ArcusController {
    /// Wraps an open link.
    pub fn new(link: Box<dyn ByteLink>, framing: Framing, timeout: Duration, url: &str) -> ArcusController {
        ArcusController { link, framing, timeout_ns: timeout.as_nanos().min(i64::MAX as u128) as i64, url: url.to_string(), dirty: false }
    }

    /// Opens the link `url` names through `opener` (the core's [`HardwareOpener`] opens real
    /// ports; the simulator crate's opener adds `sim://`).
    ///
    /// # Errors
    /// [`ArcusError::Transport`] (bad URL, port missing or busy, USB unavailable).
    pub fn open(opener: &dyn LinkOpener, url: &str, timeout: Duration) -> Result<ArcusController, ArcusError> {
        let (link, framing) = opener.open_arcus(url, timeout).map_err(|source| ArcusError::Transport {
            port: url.to_string(),
            command: "open".into(),
            source,
        })?;
        Ok(ArcusController::new(link, framing, timeout, url))
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The link's port name.
    pub fn port(&self) -> &str {
        self.link.name()
    }

    /// The device's reply turnaround when the link knows it (a simulator), else 0 (ns).
    pub fn device_turnaround_ns(&self) -> f64 {
        self.link.device_turnaround_ns()
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Reply timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns.max(0) as u64)
    }

    fn exchange_text(&mut self, text: &str) -> Result<Timed<Reply>, ArcusError> {
        let port = self.link.name().to_string();
        let terr = |source| ArcusError::Transport { port: port.clone(), command: text.to_string(), source };
        let frame =
            self.framing.encode(text).map_err(|source| ArcusError::Protocol { port: port.clone(), command: text.into(), source })?;
        if self.dirty {
            self.link.discard_input().map_err(terr)?;
            self.dirty = false;
        }
        let t_send = self.link.write_frame(&frame).map_err(terr)?;
        let (raw, t_recv) = match self.link.read_until(self.framing.reply_terminator(), t_send + self.timeout_ns) {
            Ok(r) => r,
            Err(e) => {
                self.dirty = true;
                return Err(terr(e));
            }
        };
        let reply = parse_reply(self.framing.reply_text(&raw)).map_err(|source| {
            self.dirty = true;
            ArcusError::Protocol { port: port.clone(), command: text.into(), source }
        })?;
        match reply {
            Reply::Error(error) => Err(ArcusError::Controller { port, command: text.into(), error }),
            value => Ok(Timed { value, t_send_ns: t_send, t_recv_ns: t_recv }),
        }
    }

    /// Sends `cmd`, returns its reply with the exchange's stamps (`?…` replies are errors).
    ///
    /// # Errors
    /// Any [`ArcusError`] but `InvalidArgument`/`WaitTimeout`.
    pub fn transact_timed(&mut self, cmd: &Command) -> Result<Timed<Reply>, ArcusError> {
        self.exchange_text(&cmd.encode())
    }

    /// Sends `cmd`, returns its reply.
    ///
    /// # Errors
    /// As [`ArcusController::transact_timed`].
    pub fn transact(&mut self, cmd: &Command) -> Result<Reply, ArcusError> {
        Ok(self.transact_timed(cmd)?.value)
    }

    /// Sends raw command text (no framing), returns the reply text.
    ///
    /// # Errors
    /// As [`ArcusController::transact_timed`]; an empty or non-ASCII command is refused.
    pub fn query(&mut self, text: &str) -> Result<String, ArcusError> {
        Ok(self.query_timed(text)?.value)
    }

    /// As [`ArcusController::query`], with the exchange's stamps.
    ///
    /// # Errors
    /// As [`ArcusController::query`].
    pub fn query_timed(&mut self, text: &str) -> Result<Timed<String>, ArcusError> {
        if text.is_empty() || !text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(invalid("cmd", format!("a command is printable ASCII without spaces or CR, e.g. \"PX\" (got {text:?})")));
        }
        Ok(self.exchange_text(text)?.map(|r| r.encode()))
    }

    fn unexpected(&self, cmd: &Command, reply: &Reply) -> ArcusError {
        ArcusError::Protocol {
            port: self.link.name().to_string(),
            command: cmd.encode(),
            source: ProtocolError::Unexpected { command: cmd.encode(), reply: reply.encode() },
        }
    }

    fn expect_ok(&mut self, cmd: &Command) -> Result<Timed<()>, ArcusError> {
        let r = self.transact_timed(cmd)?;
        match r.value {
            Reply::Ok => Ok(r.map(|_| ())),
            ref other => Err(self.unexpected(cmd, other)),
        }
    }

    fn expect_int(&mut self, cmd: &Command) -> Result<Timed<i64>, ArcusError> {
        let r = self.transact_timed(cmd)?;
        match r.value {
            Reply::Int(v) => Ok(r.map(|_| v)),
            ref other => Err(self.unexpected(cmd, other)),
        }
    }

    fn expect_list(&mut self, cmd: &Command, n: usize) -> Result<Timed<Vec<i64>>, ArcusError> {
        let r = self.transact_timed(cmd)?;
        match r.value {
            Reply::List(ref v) if v.len() == n => {
                let v = v.clone();
                Ok(r.map(|_| v))
            }
            ref other => Err(self.unexpected(cmd, other)),
        }
    }

    /// Pulse position of `axis`, stamped (`P[axis]`).
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn position_timed(&mut self, axis: Axis) -> Result<Timed<i64>, ArcusError> {
        self.expect_int(&Command::GetPosition(axis))
    }

    /// Pulse position of `axis`.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn position(&mut self, axis: Axis) -> Result<i64, ArcusError> {
        Ok(self.position_timed(axis)?.value)
    }

    /// All four pulse positions, stamped (`PP`).
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn positions_timed(&mut self) -> Result<Timed<[i64; 4]>, ArcusError> {
        let r = self.expect_list(&Command::GetPositions, 4)?;
        Ok(r.map(|v| [v[0], v[1], v[2], v[3]]))
    }

    /// All four pulse positions.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn positions(&mut self) -> Result<[i64; 4], ArcusError> {
        Ok(self.positions_timed()?.value)
    }

    /// Full status (`MST`), stamped.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn status_timed(&mut self) -> Result<Timed<MotorStatus>, ArcusError> {
        let r = self.expect_list(&Command::GetStatus, 9)?;
        let st = MotorStatus::from_fields(&r.value).map_err(|source| ArcusError::Protocol {
            port: self.link.name().to_string(),
            command: "MST".into(),
            source,
        })?;
        Ok(r.map(|_| st))
    }

    /// Full status (`MST`).
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn status(&mut self) -> Result<MotorStatus, ArcusError> {
        Ok(self.status_timed()?.value)
    }

    /// Status word of one axis.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn axis_status(&mut self, axis: Axis) -> Result<AxisStatus, ArcusError> {
        Ok(self.status()?.axis(axis))
    }

    /// Whether `axis` (or any axis) is pulsing.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn is_moving(&mut self, axis: Option<Axis>) -> Result<bool, ArcusError> {
        let st = self.status()?;
        Ok(match axis {
            Some(a) => st.axis(a).is_moving(),
            None => st.axes.iter().any(|s| s.is_moving()),
        })
    }

    fn check_position(parameter: &str, v: i64) -> Result<(), ArcusError> {
        if POSITION_RANGE.contains(&v) {
            Ok(())
        } else {
            Err(invalid(parameter, format!("{v} is outside the 32-bit position counter {}..={}", i32::MIN, i32::MAX)))
        }
    }

    /// Moves `axis` to `target_steps` (absolute). Sends `ABS` first: the mode persists.
    ///
    /// # Errors
    /// `?PULSING`, `?LIMIT` etc. as [`ArcusError::Controller`]; link errors.
    pub fn move_abs(&mut self, axis: Axis, target_steps: i64) -> Result<(), ArcusError> {
        Self::check_position("target_steps", target_steps)?;
        self.expect_ok(&Command::Absolute)?;
        self.expect_ok(&Command::Move(vec![(axis, target_steps)]))?;
        Ok(())
    }

    /// Moves `axis` by `delta_steps` from where it is now.
    ///
    /// # Errors
    /// As [`ArcusController::move_abs`].
    pub fn move_rel(&mut self, axis: Axis, delta_steps: i64) -> Result<(), ArcusError> {
        let here = self.position(axis)?;
        let target = here.checked_add(delta_steps).ok_or_else(|| invalid("delta_steps", format!("{delta_steps} overflows")))?;
        Self::check_position("delta_steps", target)?;
        self.move_abs(axis, target)
    }

    /// Jogs `axis` until STOP, ABORT or a limit.
    ///
    /// # Errors
    /// Controller and link errors.
    pub fn jog(&mut self, axis: Axis, positive: bool) -> Result<(), ArcusError> {
        self.expect_ok(&Command::Jog { axis, positive }).map(|_| ())
    }

    /// Decelerated stop of one axis or all; returns the instant STOP was written.
    ///
    /// # Errors
    /// Link errors.
    pub fn stop(&mut self, axis: Option<Axis>) -> Result<Timed<()>, ArcusError> {
        self.expect_ok(&Command::Stop(axis))
    }

    /// Immediate stop of one axis or all.
    ///
    /// # Errors
    /// Link errors.
    pub fn abort(&mut self, axis: Option<Axis>) -> Result<Timed<()>, ArcusError> {
        self.expect_ok(&Command::Abort(axis))
    }

    /// Homing of `axis` toward `+`/`-` in `mode` 0..=4 (M 6.13).
    ///
    /// # Errors
    /// Bad mode; controller and link errors.
    pub fn home(&mut self, axis: Axis, positive: bool, mode: u8) -> Result<(), ArcusError> {
        if mode > 4 {
            return Err(invalid("mode", format!("homing mode must be 0..=4 (got {mode})")));
        }
        self.expect_ok(&Command::Home { axis, positive, mode }).map(|_| ())
    }

    /// Sets the pulse counter of `axis` (refused while pulsing).
    ///
    /// # Errors
    /// Out-of-range value; `?PULSING`; link errors.
    pub fn set_position(&mut self, axis: Axis, steps: i64) -> Result<(), ArcusError> {
        Self::check_position("steps", steps)?;
        self.expect_ok(&Command::SetPosition(axis, steps)).map(|_| ())
    }

    /// Effective speeds of `axis`: per-axis values where non-zero, else the global ones.
    ///
    /// # Errors
    /// Link, protocol or controller errors.
    pub fn speeds(&mut self, axis: Axis) -> Result<Speeds, ArcusError> {
        let mut eff = [0i64; 4];
        for (i, p) in SpeedParam::ALL.into_iter().enumerate() {
            let per_axis = self.expect_int(&Command::GetParam(p, Some(axis)))?.value;
            eff[i] = if per_axis != 0 { per_axis } else { self.expect_int(&Command::GetParam(p, None))?.value };
        }
        Ok(Speeds { high_speed_pps: eff[0], low_speed_pps: eff[1], accel_ms: eff[2], decel_ms: eff[3] })
    }

    /// Sets the per-axis values given (None leaves a value as it is). All values are checked
    /// before anything is sent.
    ///
    /// # Errors
    /// Out-of-range values (named); controller and link errors.
    pub fn set_speeds(
        &mut self,
        axis: Axis,
        high_speed_pps: Option<i64>,
        low_speed_pps: Option<i64>,
        accel_ms: Option<i64>,
        decel_ms: Option<i64>,
    ) -> Result<(), ArcusError> {
        let items = [
            (SpeedParam::HighSpeed, "high_speed_pps", high_speed_pps, 1, MAX_SPEED_PPS),
            (SpeedParam::LowSpeed, "low_speed_pps", low_speed_pps, 1, MAX_SPEED_PPS),
            (SpeedParam::Accel, "accel_ms", accel_ms, 1, 1_000_000),
            (SpeedParam::Decel, "decel_ms", decel_ms, 1, 1_000_000),
        ];
        for (_, name, v, lo, hi) in items {
            if let Some(v) = v {
                if !(lo..=hi).contains(&v) {
                    return Err(invalid(name, format!("{v} is outside {lo}..={hi}")));
                }
            }
        }
        if let (Some(hs), Some(ls)) = (high_speed_pps, low_speed_pps) {
            if ls > hs {
                return Err(invalid("low_speed_pps", format!("{ls} is above high_speed_pps {hs}")));
            }
        }
        for (p, _, v, _, _) in items {
            if let Some(v) = v {
                self.expect_ok(&Command::SetParam(p, Some(axis), v))?;
            }
        }
        Ok(())
    }

    /// Clears the latched errors of `axis` (`CLR[axis]`).
    ///
    /// # Errors
    /// Link errors.
    pub fn clear(&mut self, axis: Axis) -> Result<(), ArcusError> {
        self.expect_ok(&Command::Clear(Some(axis))).map(|_| ())
    }

    /// Driver enable of `axis` (`EOn=0/1`, n = 1..4 for X..U).
    ///
    /// # Errors
    /// Link errors.
    pub fn enable(&mut self, axis: Axis, on: bool) -> Result<(), ArcusError> {
        self.expect_ok(&Command::SetEnableBit(axis.index() as u8 + 1, on)).map(|_| ())
    }

    /// Polls `MST` until `axis` (or every axis) stops pulsing, or `deadline_ns` passes.
    ///
    /// # Errors
    /// [`ArcusError::WaitTimeout`]; link errors.
    pub fn wait_idle(&mut self, axis: Option<Axis>, deadline_ns: i64) -> Result<MotorStatus, ArcusError> {
        // the link's time base: the deadline is on the clock of the link's stamps
        let start = self.link.now_ns();
        loop {
            let st = self.status()?;
            let moving = match axis {
                Some(a) => st.axis(a).is_moving(),
                None => st.axes.iter().any(|s| s.is_moving()),
            };
            if !moving {
                return Ok(st);
            }
            let now = self.link.now_ns();
            if now >= deadline_ns {
                return Err(ArcusError::WaitTimeout {
                    port: self.link.name().to_string(),
                    axes: axis.map_or("X/Y/Z/U".into(), |a| a.to_string()),
                    waited_s: (now - start) as f64 / 1e9,
                });
            }
            self.link.sleep_until_ns((now + 5_000_000).min(deadline_ns));
        }
    }

    /// The link model's round trip of a command of `command_len` characters answered by
    /// `reply_len` characters (ns): the bytes on the wire at the link's baud (RS-485), or two USB
    /// frames (USB); plus the device turnaround the link knows (a simulator's; 0 on hardware,
    /// where it is unknown). None when the link has no known baud (TCP without `?baud=`).
    pub fn round_trip_model_ns(&self, command_len: usize, reply_len: usize) -> Option<i64> {
        let turnaround = self.link.device_turnaround_ns() as i64;
        match self.framing {
            Framing::Usb => Some(super::framing::usb_round_trip_ns(turnaround)),
            Framing::Rs485 { .. } => {
                let bytes = self.framing.command_wire_bytes(command_len) + self.framing.reply_wire_bytes(reply_len);
                Some(wire_time_ns(bytes, self.link.baud()?) + turnaround)
            }
        }
    }

    /// Most `P[axis]` polls per second the link's baud allows (5-digit reply), None when the
    /// link has no known baud (TCP without `?baud=`, USB).
    pub fn wire_limit_hz(&self) -> Option<f64> {
        let baud = self.link.baud()?;
        let bytes = self.framing.command_wire_bytes(2) + self.framing.reply_wire_bytes(5);
        Some(1e9 / wire_time_ns(bytes, baud) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<ArcusController>();
    }
}
