//! `ArcusController` for Python: the core driver in a lendable slot (`lease::Shared`), so a
//! flyscan can borrow the open link and give it back. Every method is one or a few wire round
//! trips with the GIL released; while the link is lent, every method raises `PortBusyError`
//! naming the borrower.
use aefi_sim::opener::BenchOpener;
use std::time::Duration;

use aefi_scan_engine::arcus::driver::{ArcusController, ArcusError};
use aefi_scan_engine::arcus::protocol::{Axis, AxisStatus};
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::lease::Shared;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::arcus_error;
use crate::lendable::{lendable_pymethods, Lendable};

fn axis_arg(name: &str) -> PyResult<Axis> {
    Axis::parse_name(name).map_err(|m| crate::errors::invalid_argument(format!("axis: {m}")))
}

fn opt_axis_arg(name: Option<&str>) -> PyResult<Option<Axis>> {
    name.map(axis_arg).transpose()
}

fn seconds_arg(parameter: &str, s: f64) -> PyResult<Duration> {
    if s.is_finite() && s > 0.0 && s <= 86_400.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(crate::errors::invalid_argument(format!("{parameter} must be in (0, 86400] seconds (got {s})")))
    }
}

/// Names of the status bits in the dict `status()` returns (besides `raw`).
const STATUS_KEYS: [(&str, AxisStatus); 11] = [
    ("accel", AxisStatus::ACCEL),
    ("decel", AxisStatus::DECEL),
    ("constant_speed", AxisStatus::CONSTANT),
    ("alarm", AxisStatus::ALARM_INPUT),
    ("plus_limit", AxisStatus::PLUS_LIMIT_INPUT),
    ("minus_limit", AxisStatus::MINUS_LIMIT_INPUT),
    ("home_input", AxisStatus::HOME_INPUT),
    ("plus_limit_error", AxisStatus::PLUS_LIMIT_ERROR),
    ("minus_limit_error", AxisStatus::MINUS_LIMIT_ERROR),
    ("alarm_error", AxisStatus::ALARM_ERROR),
    ("toc_timeout", AxisStatus::TOC_TIMEOUT),
];

/// One Arcus PMX-4EX-SA link (`sim://`, `serial://`, `tcp://`, `usb://`, `performax://`).
#[pyclass(name = "ArcusController", module = "pymodaq_plugins_aefi._engine", frozen)]
pub struct PyArcusController {
    link: Lendable<ArcusController>,
}

impl PyArcusController {
    /// The lendable slot holding the open controller (the engine binding borrows it for a scan).
    pub(crate) fn shared(&self) -> &Shared<ArcusController> {
        self.link.shared()
    }

    fn run<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut ArcusController) -> Result<R, ArcusError> + Send) -> PyResult<R> {
        self.link.run(py, f, arcus_error)
    }
}

lendable_pymethods!(PyArcusController, "ArcusController", {
    #[new]
    #[pyo3(signature = (url, timeout_s = 1.0))]
    fn new(py: Python<'_>, url: String, timeout_s: f64) -> PyResult<Self> {
        let timeout = seconds_arg("timeout_s", timeout_s)?;
        let ctrl = py.detach(|| ArcusController::open(&BenchOpener, &url, timeout)).map_err(arcus_error)?;
        Ok(Self { link: Lendable::new(url, ctrl) })
    }

    /// Sends raw command text (e.g. "PX", "MST"); returns the reply text. `?…` raises ControllerError.
    fn query(&self, py: Python<'_>, cmd: String) -> PyResult<String> {
        self.run(py, move |c| c.query(&cmd))
    }

    /// As `query`, with the exchange's stamps: `(reply, t_send_ns, t_recv_ns)` on the engine clock.
    fn query_timed(&self, py: Python<'_>, cmd: String) -> PyResult<(String, i64, i64)> {
        let t = self.run(py, move |c| c.query_timed(&cmd))?;
        Ok((t.value, t.t_send_ns, t.t_recv_ns))
    }

    /// The link model's round trip (ns) of `cmd` answered by `reply`: wire bytes at the baud
    /// (RS-485) or two USB frames, plus a simulator's turnaround. None: unknown baud (TCP).
    fn round_trip_model_ns(&self, py: Python<'_>, cmd: &str, reply: &str) -> PyResult<Option<i64>> {
        let (c_len, r_len) = (cmd.len(), reply.len());
        self.run(py, move |c| Ok(c.round_trip_model_ns(c_len, r_len)))
    }

    /// Pulse position of one axis.
    fn position(&self, py: Python<'_>, axis: &str) -> PyResult<i64> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.position(a))
    }

    /// Pulse positions of X, Y, Z, U (one `PP`).
    fn positions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = self.run(py, |c| c.positions())?;
        let d = PyDict::new(py);
        for a in Axis::ALL {
            d.set_item(a.to_string(), p[a.index()])?;
        }
        Ok(d)
    }

    /// Named status bits of one axis (MST), plus `moving` and the raw word.
    fn status<'py>(&self, py: Python<'py>, axis: &str) -> PyResult<Bound<'py, PyDict>> {
        let a = axis_arg(axis)?;
        let s = self.run(py, move |c| c.axis_status(a))?;
        let d = PyDict::new(py);
        d.set_item("moving", s.is_moving())?;
        for (name, bit) in STATUS_KEYS {
            d.set_item(name, s.contains(bit))?;
        }
        d.set_item("raw", s.bits())?;
        Ok(d)
    }

    /// Whether one axis (or any) is pulsing.
    #[pyo3(signature = (axis = None))]
    fn is_moving(&self, py: Python<'_>, axis: Option<&str>) -> PyResult<bool> {
        let a = opt_axis_arg(axis)?;
        self.run(py, move |c| c.is_moving(a))
    }

    /// Moves to an absolute pulse position (sends ABS first).
    fn move_abs(&self, py: Python<'_>, axis: &str, target_steps: i64) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.move_abs(a, target_steps))
    }

    /// Moves by a number of pulses from the current position.
    fn move_rel(&self, py: Python<'_>, axis: &str, delta_steps: i64) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.move_rel(a, delta_steps))
    }

    /// Jogs until stop, abort or a limit.
    #[pyo3(signature = (axis, positive = true))]
    fn jog(&self, py: Python<'_>, axis: &str, positive: bool) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.jog(a, positive))
    }

    /// Decelerated stop of one axis or all.
    #[pyo3(signature = (axis = None))]
    fn stop(&self, py: Python<'_>, axis: Option<&str>) -> PyResult<()> {
        let a = opt_axis_arg(axis)?;
        self.run(py, move |c| c.stop(a).map(|_| ()))
    }

    /// Immediate stop of one axis or all.
    #[pyo3(signature = (axis = None))]
    fn abort(&self, py: Python<'_>, axis: Option<&str>) -> PyResult<()> {
        let a = opt_axis_arg(axis)?;
        self.run(py, move |c| c.abort(a).map(|_| ()))
    }

    /// Starts homing (mode 0..4, M 6.13); returns at once, poll `is_moving`/`wait_idle`.
    #[pyo3(signature = (axis, positive = false, mode = 0))]
    fn home(&self, py: Python<'_>, axis: &str, positive: bool, mode: u8) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.home(a, positive, mode))
    }

    /// Sets the pulse counter (refused while moving).
    fn set_position(&self, py: Python<'_>, axis: &str, steps: i64) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.set_position(a, steps))
    }

    /// Effective speeds of one axis (per-axis values where non-zero, else the global ones).
    fn speeds<'py>(&self, py: Python<'py>, axis: &str) -> PyResult<Bound<'py, PyDict>> {
        let a = axis_arg(axis)?;
        let s = self.run(py, move |c| c.speeds(a))?;
        let d = PyDict::new(py);
        d.set_item("high_speed_pps", s.high_speed_pps)?;
        d.set_item("low_speed_pps", s.low_speed_pps)?;
        d.set_item("accel_ms", s.accel_ms)?;
        d.set_item("decel_ms", s.decel_ms)?;
        Ok(d)
    }

    /// Sets the given per-axis speeds (pulses/s) and ramp times (ms); all checked before sending.
    #[pyo3(signature = (axis, high_speed_pps = None, low_speed_pps = None, accel_ms = None, decel_ms = None))]
    fn set_speeds(
        &self,
        py: Python<'_>,
        axis: &str,
        high_speed_pps: Option<i64>,
        low_speed_pps: Option<i64>,
        accel_ms: Option<i64>,
        decel_ms: Option<i64>,
    ) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.set_speeds(a, high_speed_pps, low_speed_pps, accel_ms, decel_ms))
    }

    /// Clears latched limit/alarm errors of one axis, or of every axis.
    #[pyo3(signature = (axis = None))]
    fn clear(&self, py: Python<'_>, axis: Option<&str>) -> PyResult<()> {
        let a = opt_axis_arg(axis)?;
        self.run(py, move |c| match a {
            Some(a) => c.clear(a),
            None => Axis::ALL.into_iter().try_for_each(|a| c.clear(a)),
        })
    }

    /// Driver enable output of one axis.
    #[pyo3(signature = (axis, on = true))]
    fn enable(&self, py: Python<'_>, axis: &str, on: bool) -> PyResult<()> {
        let a = axis_arg(axis)?;
        self.run(py, move |c| c.enable(a, on))
    }

    /// Waits until one axis (or every axis) stops; TimeoutError after `timeout_s`.
    #[pyo3(signature = (axis = None, timeout_s = 30.0))]
    fn wait_idle(&self, py: Python<'_>, axis: Option<&str>, timeout_s: f64) -> PyResult<()> {
        let a = opt_axis_arg(axis)?;
        let timeout = seconds_arg("timeout_s", timeout_s)?;
        let deadline = mono_ns() + timeout.as_nanos() as i64;
        self.run(py, move |c| c.wait_idle(a, deadline).map(|_| ()))
    }

    /// Most position polls per second the link's baud allows (None: unknown baud).
    fn wire_limit_hz(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        self.run(py, |c| Ok(c.wire_limit_hz()))
    }
});

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyArcusController>()?;
    Ok(())
}
