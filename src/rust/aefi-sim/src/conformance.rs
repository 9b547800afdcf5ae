//! The Arcus driver's conformance checks: what every link to a PMX-4EX-SA must give through
//! [`ArcusController`], whatever carries the bytes (the in-process simulator, a PTY, TCP, libusb,
//! PerformaxCom.dll or its fake). Each link's tests run the same [`check_controller`] on a
//! controller whose far end is the simulator, so a transport that loses, reorders, truncates or
//! mis-stamps replies, or that confuses framings, fails here by name.
//!
//! The checks are relative to where the axes are when they start (a controller keeps its state
//! between opens), and they leave every axis idle.
use std::time::Duration;

use aefi_scan_engine::arcus::driver::{ArcusController, ArcusError};
use aefi_scan_engine::arcus::protocol::{Axis, AxisStatus, ControllerError, MoveMode};
use aefi_scan_engine::clock::mono_ns;

/// What the checks measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ConformanceReport {
    /// `VER`'s reply.
    pub version: String,
    /// `DN`'s reply.
    pub device_name: String,
    /// Round trips of back-to-back `PX` polls (ns), as stamped by the link.
    pub round_trips_ns: Vec<i64>,
}

impl ConformanceReport {
    /// The median round trip (ns).
    pub fn median_round_trip_ns(&self) -> i64 {
        let mut v = self.round_trips_ns.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }
}

/// A failed check: which, and what was seen.
#[derive(Debug, thiserror::Error)]
#[error("conformance check {check:?} failed on {port}: {detail}")]
pub struct ConformanceFailure {
    /// The check.
    pub check: &'static str,
    /// The controller's port.
    pub port: String,
    /// What was seen instead.
    pub detail: String,
}

const SECOND_NS: i64 = 1_000_000_000;

/// The failure context: the port named in every failure.
struct Checker {
    port: String,
}

impl Checker {
    fn fail(&self, check: &'static str, detail: impl std::fmt::Display) -> ConformanceFailure {
        ConformanceFailure { check, port: self.port.clone(), detail: detail.to_string() }
    }

    fn ok<T>(&self, check: &'static str, r: Result<T, ArcusError>) -> Result<T, ConformanceFailure> {
        r.map_err(|e| self.fail(check, e))
    }

    fn ensure(&self, check: &'static str, cond: bool, detail: impl FnOnce() -> String) -> Result<(), ConformanceFailure> {
        if cond {
            Ok(())
        } else {
            Err(self.fail(check, detail()))
        }
    }

    fn unknown_command(&self, c: &mut ArcusController, check: &'static str, text: &str) -> Result<(), ConformanceFailure> {
        match c.query(text) {
            Err(ArcusError::Controller { error: ControllerError::UnknownCommand(t), .. }) if t == text => Ok(()),
            other => Err(self.fail(check, format!("{text}: expected ?{text}, got {other:?}"))),
        }
    }

    fn wait_idle(&self, c: &mut ArcusController, check: &'static str, axis: Axis) -> Result<(), ConformanceFailure> {
        self.ok(check, c.wait_idle(Some(axis), mono_ns() + 30 * SECOND_NS)).map(|_| ())
    }
}

/// Runs every check on `c`; `device_name` is the `DN` expected (`4EX00`), if known.
///
/// # Errors
/// The first check that fails, with what was seen.
pub fn check_controller(c: &mut ArcusController, device_name: Option<&str>) -> Result<ConformanceReport, ConformanceFailure> {
    let k = Checker { port: c.port().to_string() };

    // identify: VER and DN, the two ways to tell a 4EX (it has no ID command)
    let version = k.ok("identify", c.query("VER"))?;
    k.ensure("identify", version.starts_with('V'), || format!("VER answered {version:?}"))?;
    let dn = k.ok("identify", c.query("DN"))?;
    k.ensure("identify", dn.starts_with("4EX") && dn.len() == 5, || format!("DN answered {dn:?}"))?;
    if let Some(want) = device_name {
        k.ensure("identify", dn.eq_ignore_ascii_case(want), || format!("DN answered {dn:?}, expected {want}"))?;
    }

    // refusals: an unknown or lower-case command is echoed back after '?', never OK or silence
    k.unknown_command(c, "unknown command", "ID")?;
    k.unknown_command(c, "unknown command", "px")?;
    // after an error reply the link is still in step
    let v2 = k.ok("in step after an error", c.query("VER"))?;
    k.ensure("in step after an error", v2 == version, || format!("VER answered {v2:?} after ?ID"))?;

    // stamps: each exchange is stamped send < receive, and exchanges do not overlap
    let mut round_trips_ns = Vec::with_capacity(50);
    let mut last_recv = i64::MIN;
    for _ in 0..50 {
        let p = k.ok("stamps", c.position_timed(Axis::X))?;
        k.ensure("stamps", p.t_send_ns < p.t_recv_ns && p.t_send_ns >= last_recv, || {
            format!("send {} recv {} after previous recv {last_recv}", p.t_send_ns, p.t_recv_ns)
        })?;
        last_recv = p.t_recv_ns;
        round_trips_ns.push(p.t_recv_ns - p.t_send_ns);
    }

    // speeds read back as set (per axis)
    k.ok("speeds", c.set_speeds(Axis::X, Some(20_000), Some(100), Some(50), Some(50)))?;
    let s = k.ok("speeds", c.speeds(Axis::X))?;
    k.ensure("speeds", (s.high_speed_pps, s.low_speed_pps, s.accel_ms, s.decel_ms) == (20_000, 100, 50, 50), || format!("{s:?}"))?;

    // a move: pulsing at once, idle on the target, PP and MST agree
    let start = k.ok("move", c.position(Axis::X))?;
    let target = if start < 0 { start + 3000 } else { start - 3000 };
    k.ok("move", c.move_abs(Axis::X, target))?;
    let moving = k.ok("move", c.is_moving(Some(Axis::X)))?;
    k.ensure("move", moving, || "X not pulsing right after the move command".into())?;
    k.wait_idle(c, "move", Axis::X)?;
    let x = k.ok("move", c.position(Axis::X))?;
    k.ensure("move", x == target, || format!("X ended at {x}, target {target}"))?;
    let pp = k.ok("move", c.positions())?;
    k.ensure("move", pp[0] == target, || format!("PP says X = {}", pp[0]))?;
    let st = k.ok("status", c.status())?;
    k.ensure("status", !st.axis(Axis::X).is_moving() && st.mode == MoveMode::Absolute, || format!("{st:?}"))?;

    // ?PULSING on a moving axis; STOP ramps down (DECEL seen), then idle
    k.ok("pulsing", c.set_speeds(Axis::Y, Some(50_000), Some(500), Some(100), Some(1000)))?;
    k.ok("pulsing", c.jog(Axis::Y, true))?;
    std::thread::sleep(Duration::from_millis(150));
    match c.move_abs(Axis::Y, 0) {
        Err(ArcusError::Controller { error: ControllerError::Pulsing, .. }) => {}
        other => return Err(k.fail("pulsing", format!("a move on a jogging axis answered {other:?}"))),
    }
    k.ok("stop", c.stop(Some(Axis::Y)))?;
    let y = k.ok("stop", c.axis_status(Axis::Y))?;
    k.ensure("stop", y.contains(AxisStatus::DECEL), || format!("Y status right after STOP: {y:?}"))?;
    k.wait_idle(c, "stop", Axis::Y)?;

    // ABORT: idle on the very next query
    k.ok("abort", c.jog(Axis::Z, false))?;
    k.ok("abort", c.abort(Some(Axis::Z)))?;
    let z = k.ok("abort", c.axis_status(Axis::Z))?;
    k.ensure("abort", !z.is_moving(), || format!("Z status right after ABORT: {z:?}"))?;

    // the counter can be set while idle; clear and enable answer OK
    k.ok("set position", c.set_position(Axis::U, 1234))?;
    let u = k.ok("set position", c.position(Axis::U))?;
    k.ensure("set position", u == 1234, || format!("U reads {u} after PU=1234"))?;
    k.ok("clear", c.clear(Axis::X))?;
    k.ok("enable", c.enable(Axis::X, true))?;

    Ok(ConformanceReport { version, device_name: dn, round_trips_ns })
}
