//! `RustScanExecutor`, `ScanCompletion` and `trigger_benchmark`: the flyscan engine for Python.
//!
//! Conversion only: the plan dict becomes a `FlyPlan` (unknown keys and bad types are refused
//! as `PlanError(.field)`), records become numpy columns (one copy per column, no per-record
//! Python objects), progress and statistics become dicts with the contract's keys
//! (docs/architecture.md), faults become the exceptions of [`crate::errors`]. `prepare` borrows
//! the `ArcusController`'s link through its lease; the scan's motion thread owns it and drops it
//! on every exit path, which gives it back. Every blocking call releases the GIL (prepare, wait,
//! stats, join, collect); dropping the executor aborts and joins a running scan with the GIL
//! released.
use crate::arcus::PyArcusController;
use crate::errors::{self, lease_error, plan_error, scan_fault_class, scan_fault_error, scan_state_error};
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::detector::{external_stream, Detector, ExternalFeed, NoDetector, Sample, TruthSource};
use aefi_scan_engine::engine::executor::{Completion, Executor};
use aefi_scan_engine::engine::pacer::{LatenessUs, RtReport};
use aefi_scan_engine::engine::plan::{Axis, DetectorKind, FlyPlan, Pattern, TriggerMode};
use aefi_scan_engine::engine::record::{Columns, N_CHANNELS};
use aefi_scan_engine::engine::stats::{Progress, ScanStats};
use aefi_sim::bench::sim_truth_for_url;
use aefi_sim::field::FieldMap;
use aefi_sim::probe::VirtualProbe;
use aefi_sim::trigger_bench::{trigger_benchmark as core_trigger_benchmark, BenchDetector};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bad(field: &str, msg: String) -> PyErr {
    plan_error(field, format!("plan field `{field}`: {msg}"))
}

fn get_int(key: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(bad(key, "expected an integer, got a bool".into()));
    }
    v.extract::<i64>().map_err(|_| bad(key, format!("expected an integer, got {}", v.repr().map(|r| r.to_string()).unwrap_or_default())))
}

/// An integer that must fit `T`; otherwise the error says "<n> <out_of_range>".
fn get_count<T: TryFrom<i64>>(key: &str, v: &Bound<'_, PyAny>, out_of_range: &str) -> PyResult<T> {
    let n = get_int(key, v)?;
    T::try_from(n).map_err(|_| bad(key, format!("{n} {out_of_range}")))
}

fn get_float(key: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    v.extract::<f64>().map_err(|_| bad(key, format!("expected a number, got {}", v.repr().map(|r| r.to_string()).unwrap_or_default())))
}

fn get_str(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    v.extract::<String>().map_err(|_| bad(key, "expected a string".into()))
}

fn get_axis(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Axis> {
    let s = get_str(key, v)?;
    Axis::parse(&s).ok_or_else(|| bad(key, format!("{s:?} is not one of \"X\", \"Y\", \"Z\", \"U\"")))
}

/// The plan dict (docs/architecture.md "Flyscan plan") as a `FlyPlan`, and whether the detector
/// was given explicitly.
pub fn parse_plan(d: &Bound<'_, PyDict>) -> PyResult<(FlyPlan, bool)> {
    let mut p = FlyPlan { slow_axis: None, ..FlyPlan::default() };
    let mut detector_given = false;
    for required in ["fast_axis", "fast_start_steps", "fast_stop_steps", "speed_pps"] {
        if !d.contains(required)? {
            return Err(bad(required, "is required".into()));
        }
    }
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| bad("plan", "keys must be strings".into()))?;
        let key = key.as_str();
        match key {
            "fast_axis" => p.fast_axis = get_axis(key, &v)?,
            "slow_axis" => p.slow_axis = if v.is_none() { None } else { Some(get_axis(key, &v)?) },
            "fast_start_steps" => p.fast_start_steps = get_int(key, &v)?,
            "fast_stop_steps" => p.fast_stop_steps = get_int(key, &v)?,
            "slow_start_steps" => p.slow_start_steps = get_int(key, &v)?,
            "slow_stop_steps" => p.slow_stop_steps = get_int(key, &v)?,
            "lines" => p.lines = get_count(key, &v, "is outside 1..=100000")?,
            "pattern" => {
                p.pattern = match get_str(key, &v)?.as_str() {
                    "serpentine" => Pattern::Serpentine,
                    "unidirectional" => Pattern::Unidirectional,
                    other => return Err(bad(key, format!("{other:?} is not \"serpentine\" or \"unidirectional\""))),
                }
            }
            "speed_pps" => p.speed_pps = get_float(key, &v)?,
            "detector" => {
                detector_given = true;
                p.detector = match get_str(key, &v)?.as_str() {
                    "virtual_probe" => DetectorKind::VirtualProbe,
                    "board" => DetectorKind::Board,
                    "none" => DetectorKind::None,
                    "external" => DetectorKind::External,
                    other => return Err(bad(key, format!("{other:?} is not one of \"virtual_probe\", \"board\", \"external\", \"none\""))),
                }
            }
            "trigger" => {
                p.trigger = match get_str(key, &v)?.as_str() {
                    "software" => TriggerMode::Software,
                    "continuous" => TriggerMode::Continuous,
                    "hardware" => TriggerMode::Hardware,
                    other => return Err(bad(key, format!("{other:?} is not one of \"software\", \"continuous\", \"hardware\""))),
                }
            }
            "sample_rate_hz" => p.sample_rate_hz = get_float(key, &v)?,
            "board_n_avg" => p.board_n_avg = get_count(key, &v, "is outside 1..=255")?,
            "travel_min_steps" => p.travel_min_steps = get_int(key, &v)?,
            "travel_max_steps" => p.travel_max_steps = get_int(key, &v)?,
            "settle_ms" => p.settle_ms = get_float(key, &v)?,
            "ring_capacity" => p.ring_capacity = get_count(key, &v, "is negative")?,
            "realtime" => p.realtime = v.extract::<bool>().map_err(|_| bad(key, "expected a bool".into()))?,
            "step_um" => p.step_um = get_float(key, &v)?,
            "probe_noise_volts" => p.probe_noise_volts = get_float(key, &v)?,
            "encoder_counts_per_step" => p.encoder_counts_per_step = get_float(key, &v)?,
            "encoder_max_slip_steps" => p.encoder_max_slip_steps = get_float(key, &v)?,
            "differential" => p.differential = v.extract::<bool>().map_err(|_| bad(key, "expected a bool".into()))?,
            "excitation_settle_ms" => p.excitation_settle_ms = get_float(key, &v)?,
            "excitation_gains" => {
                let g: Vec<i64> = v.extract().map_err(|_| bad(key, "expected two gain words [DDS1, DDS2]".into()))?;
                let word = |x: i64| u16::try_from(x).map_err(|_| bad(key, format!("{x} is outside 0..=16376 (AD9106 gain words)")));
                match g.as_slice() {
                    [a, b] => p.excitation_gains = [word(*a)?, word(*b)?],
                    _ => return Err(bad(key, format!("expected two gain words [DDS1, DDS2], got {}", g.len()))),
                }
            }
            "seed" => p.seed = if v.is_none() { None } else { Some(get_count(key, &v, "is not a seed (0..=2**64-1)")?) },
            other => return Err(bad(other, "unknown plan key (see docs/architecture.md, \"Flyscan plan\")".into())),
        }
    }
    Ok((p, detector_given))
}

fn lateness_dict<'py>(py: Python<'py>, l: &LatenessUs) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("p50", l.p50)?;
    d.set_item("p99", l.p99)?;
    d.set_item("max", l.max)?;
    d.set_item("count", l.count)?;
    Ok(d)
}

fn rt_dict<'py>(py: Python<'py>, r: &RtReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("fifo", r.fifo)?;
    d.set_item("pinned_cpu", r.pinned_cpu)?;
    d.set_item("mlocked", r.mlocked)?;
    d.set_item("prefaulted_bytes", r.prefaulted_bytes)?;
    d.set_item("detail", &r.detail)?;
    Ok(d)
}

fn stats_dict<'py>(py: Python<'py>, s: &ScanStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("status", s.status.name())?;
    match &s.error {
        Some(e) => {
            let ed = PyDict::new(py);
            ed.set_item("type", scan_fault_class(e).name())?;
            ed.set_item("message", e.to_string())?;
            d.set_item("error", ed)?;
        }
        None => d.set_item("error", py.None())?,
    }
    d.set_item("lines", s.lines)?;
    d.set_item("samples", s.samples)?;
    d.set_item("wall_time_s", s.wall_time_s)?;
    d.set_item("prepare_s", s.prepare_s)?;
    d.set_item("physical_min_s", s.physical_min_s)?;
    d.set_item("efficiency", s.efficiency)?;
    d.set_item("overhead_per_line_ms", s.overhead_per_line_ms)?;
    d.set_item("seed", s.seed)?;
    d.set_item("polls", s.polls)?;
    d.set_item("poll_rate_hz", s.poll_rate_hz)?;
    d.set_item("wire_limit_hz", s.wire_limit_hz)?;
    d.set_item("cadence", s.cadence.name())?;
    match &s.trigger_lateness_us {
        Some(l) => d.set_item("trigger_lateness_us", lateness_dict(py, l)?)?,
        None => d.set_item("trigger_lateness_us", py.None())?,
    }
    d.set_item("missed_triggers", s.missed_triggers)?;
    d.set_item("dropped_records", s.dropped_records)?;
    d.set_item("sample_rate_hz", s.sample_rate_hz)?;
    d.set_item("detector_rate_hz", s.sample_rate_hz)?;
    d.set_item("detector_rate_limit_hz", s.detector_rate_limit_hz)?;
    d.set_item("smear_steps", s.smear_steps)?;
    d.set_item("rt", rt_dict(py, &s.rt)?)?;
    let lines = PyList::empty(py);
    for l in &s.line_times {
        let ld = PyDict::new(py);
        ld.set_item("line", l.line)?;
        ld.set_item("t_start_ns", l.t_start_ns)?;
        ld.set_item("t_end_ns", l.t_end_ns)?;
        ld.set_item("samples", l.samples)?;
        lines.append(ld)?;
    }
    d.set_item("line_times", lines)?;
    d.set_item("abort_latency_ms", s.abort_latency_ms)?;
    d.set_item("detector_faults", s.detector_faults)?;
    d.set_item("rejected_samples", s.rejected_samples)?;
    d.set_item("link_retries", s.link_retries)?;
    match &s.excitation {
        Some(x) => {
            let xd = PyDict::new(py);
            xd.set_item("mutes", x.mutes)?;
            xd.set_item("unmutes", x.unmutes)?;
            xd.set_item("gains", x.gains.to_vec())?;
            xd.set_item("restored", x.restored)?;
            xd.set_item("error", x.error.clone())?;
            d.set_item("excitation", xd)?;
        }
        None => d.set_item("excitation", py.None())?,
    }
    Ok(d)
}

fn columns_dict<'py>(py: Python<'py>, c: Columns) -> PyResult<Bound<'py, PyDict>> {
    let n = c.len();
    let d = PyDict::new(py);
    d.set_item("seq", PyArray1::from_vec(py, c.seq))?;
    d.set_item("t_ns", PyArray1::from_vec(py, c.t_ns))?;
    d.set_item("line", PyArray1::from_vec(py, c.line))?;
    d.set_item("fast_steps", PyArray1::from_vec(py, c.fast_steps))?;
    d.set_item("slow_steps", PyArray1::from_vec(py, c.slow_steps))?;
    d.set_item("pos_err_steps", PyArray1::from_vec(py, c.pos_err_steps))?;
    d.set_item("flags", PyArray1::from_vec(py, c.flags))?;
    d.set_item("channels", PyArray1::from_vec(py, c.channels).reshape([n, N_CHANNELS])?)?;
    Ok(d)
}

fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("state", p.state.name())?;
    d.set_item("lines_done", p.lines_done)?;
    d.set_item("lines_total", p.lines_total)?;
    d.set_item("current_line", p.current_line)?;
    d.set_item("samples", p.samples)?;
    d.set_item("fast_steps", p.fast_steps)?;
    d.set_item("slow_steps", p.slow_steps)?;
    d.set_item("elapsed_s", p.elapsed_s)?;
    d.set_item("dropped_records", p.dropped_records)?;
    Ok(d)
}

fn timeout_arg(timeout_s: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout_s {
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(Duration::from_secs_f64(t.min(1e6)))),
        Some(t) => Err(errors::invalid_argument(format!("timeout_s must be >= 0 s, got {t}"))),
        None => Ok(None),
    }
}

/// The status `RustScanExecutor.complete()` returns: done when the last line is (or the scan
/// ended otherwise), with progress on the way and the statistics at the end.
#[pyclass(module = "pymodaq_plugins_aefi._engine", name = "ScanCompletion", frozen)]
pub struct PyScanCompletion {
    inner: Completion,
}

#[pymethods]
impl PyScanCompletion {
    /// True once the scan has ended and every record is in the ring.
    #[getter]
    fn done(&self) -> bool {
        self.inner.is_done()
    }

    /// Waits until done, at most `timeout_s` (None: no limit), with the GIL released; returns
    /// whether it is done. Never aborts.
    #[pyo3(signature = (timeout_s=None))]
    fn wait(&self, py: Python<'_>, timeout_s: Option<f64>) -> PyResult<bool> {
        let timeout = timeout_arg(timeout_s)?;
        let inner = self.inner.clone();
        Ok(py.detach(move || inner.wait(timeout)))
    }

    /// Where the scan is (lock-free; any rate).
    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        progress_dict(py, &self.inner.progress())
    }

    /// The final statistics; waits for the end (GIL released).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let stats = py.detach(move || inner.stats());
        stats_dict(py, &stats)
    }
}

/// Runs flyscans on the Rust engine (ADR-002), one at a time, in four verbs.
#[pyclass(module = "pymodaq_plugins_aefi._engine")]
pub struct RustScanExecutor {
    executor: Arc<Executor>,
    feed: Mutex<Option<ExternalFeed>>,
}

impl RustScanExecutor {
    /// The detector the plan asks for (or the default one), and the feed of an external one.
    fn detector(
        fly: &mut FlyPlan,
        detector_given: bool,
        url: &str,
        board: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Box<dyn Detector>, Option<ExternalFeed>)> {
        let truth: Option<Arc<dyn TruthSource>> = sim_truth_for_url(url).map(|t| Arc::new(t) as Arc<dyn TruthSource>);
        if !detector_given {
            fly.detector = if board.is_some() {
                DetectorKind::Board
            } else if truth.is_some() {
                DetectorKind::VirtualProbe
            } else {
                DetectorKind::None
            };
        }
        Ok(match fly.detector {
            DetectorKind::VirtualProbe => match truth {
                Some(truth) => {
                    let seed = fly.seed.unwrap_or_else(|| aefi_scan_engine::clock::mono_ns() as u64);
                    (Box::new(VirtualProbe::new(truth, FieldMap::aefi_default(), fly.step_um, fly.probe_noise_volts, seed)), None)
                }
                None => {
                    return Err(bad(
                        "detector",
                        "\"virtual_probe\" needs a simulated Arcus (sim://...): it reads the simulator's true position".into(),
                    ))
                }
            },
            DetectorKind::None => (Box::new(NoDetector), None),
            DetectorKind::External => {
                let (feed, stream) = external_stream(1 << 16);
                (Box::new(stream), Some(feed))
            }
            DetectorKind::Board => match board {
                Some(b) => (crate::board::detector_for_scan(b, fly)?, None),
                None => return Err(bad("detector", "\"board\" needs board=BoardController(...)".into())),
            },
        })
    }
}

#[pymethods]
impl RustScanExecutor {
    #[new]
    fn new() -> Self {
        Self { executor: Arc::new(Executor::new()), feed: Mutex::new(None) }
    }

    /// Validates `plan` against the controller, checks every axis it uses (a latched limit or
    /// alarm refuses before any motion), arms the detector and brings the axes to the first
    /// run-up start; returns when the scan is ready to fly (GIL released meanwhile).
    ///
    /// Borrows `arcus`' link for the scan (`arcus.is_lent` is true until the scan ends).
    #[pyo3(signature = (plan, arcus, board=None))]
    fn prepare(
        &self,
        py: Python<'_>,
        plan: &Bound<'_, PyDict>,
        arcus: &Bound<'_, PyAny>,
        board: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if self.executor.scan().is_some_and(|s| !s.is_finished()) {
            return Err(scan_state_error("a scan is already prepared or running on this executor; abort it or wait for its end"));
        }
        let (mut fly, detector_given) = parse_plan(plan)?;
        let ctrl = arcus
            .cast::<PyArcusController>()
            .map_err(|_| pyo3::exceptions::PyTypeError::new_err("arcus must be an _engine.ArcusController"))?;
        let shared = ctrl.get().shared().clone();
        let url = shared.with(|c| c.url().to_string()).map_err(|e| lease_error(e, "the Arcus link"))?;
        let (detector, feed) = Self::detector(&mut fly, detector_given, &url, board)?;
        // The scan's motion thread owns the lent link; it goes home when that thread ends.
        let lent = shared.lend("flyscan").map_err(|e| lease_error(e, &url))?;
        let stage = ArcusStage::new(lent);
        *lock(&self.feed) = feed;
        let executor = Arc::clone(&self.executor);
        py.detach(move || executor.prepare(&fly, stage, detector)).map_err(|e| scan_fault_error(&e))
    }

    /// Lets the prepared scan fly; returns at once.
    fn kickoff(&self) -> PyResult<()> {
        self.executor.kickoff().map_err(|e| scan_fault_error(&e))
    }

    /// The completion status of the current scan.
    fn complete(&self) -> PyResult<PyScanCompletion> {
        Ok(PyScanCompletion { inner: self.executor.complete().map_err(|e| scan_fault_error(&e))? })
    }

    /// The records since the last collect (at most `max_records`), as numpy columns.
    #[pyo3(signature = (max_records=None))]
    fn collect<'py>(&self, py: Python<'py>, max_records: Option<usize>) -> PyResult<Bound<'py, PyDict>> {
        let executor = Arc::clone(&self.executor);
        let cols = py.detach(move || executor.collect(max_records)).map_err(|e| scan_fault_error(&e))?;
        columns_dict(py, cols)
    }

    /// Requests an abort, whatever the state (prepare's move to the start included): ABORT
    /// reaches the wire within ~20 ms. Returns at once; no-op when nothing was prepared.
    fn abort(&self) {
        self.executor.abort();
    }

    /// `prepare` then `kickoff`: returns once the lines fly.
    #[pyo3(signature = (plan, arcus, board=None))]
    fn start(&self, py: Python<'_>, plan: &Bound<'_, PyDict>, arcus: &Bound<'_, PyAny>, board: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.prepare(py, plan, arcus, board)?;
        self.kickoff()
    }

    /// Live progress (lock-free; any rate).
    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let done = self.executor.complete().map_err(|e| scan_fault_error(&e))?;
        progress_dict(py, &done.progress())
    }

    /// The same as `collect` (its earlier name).
    #[pyo3(signature = (max_records=None))]
    fn drain<'py>(&self, py: Python<'py>, max_records: Option<usize>) -> PyResult<Bound<'py, PyDict>> {
        self.collect(py, max_records)
    }

    /// Feeds samples of an external detector (`detector="external"`): `t_ns` (N,) and
    /// `volts` (N, 6). Returns how many were accepted.
    fn feed(&self, t_ns: PyReadonlyArray1<'_, i64>, volts: PyReadonlyArray2<'_, f64>) -> PyResult<usize> {
        let t = t_ns.as_slice()?;
        let v = volts.as_array();
        if v.nrows() != t.len() || v.ncols() != N_CHANNELS {
            return Err(errors::invalid_argument(format!("volts must have shape ({}, {N_CHANNELS}), got {:?}", t.len(), v.shape())));
        }
        let samples: Vec<Sample> = t
            .iter()
            .enumerate()
            .map(|(i, &ti)| {
                let mut s = Sample { t_ns: ti, volts: [0.0; N_CHANNELS], duration_ns: 0 };
                for c in 0..N_CHANNELS {
                    s.volts[c] = v[[i, c]];
                }
                s
            })
            .collect();
        match lock(&self.feed).as_mut() {
            Some(f) => Ok(f.feed(&samples)),
            None => Err(scan_state_error("the scan does not use detector=\"external\"")),
        }
    }

    /// Waits for the end and returns the statistics (GIL released). With `timeout_s`, a scan
    /// still running then is aborted (and waited for): a join never leaves the scan running or
    /// the link held.
    #[pyo3(signature = (timeout_s=None))]
    fn join<'py>(&self, py: Python<'py>, timeout_s: Option<f64>) -> PyResult<Bound<'py, PyDict>> {
        let scan = self.executor.scan().ok_or_else(|| scan_state_error("no scan was prepared on this executor"))?;
        let timeout = timeout_arg(timeout_s)?;
        let stats = py.detach(move || scan.join(timeout));
        *lock(&self.feed) = None;
        stats_dict(py, &stats)
    }

    /// True from `prepare` until the scan has ended.
    #[getter]
    fn running(&self) -> bool {
        self.executor.scan().is_some_and(|s| !s.is_finished())
    }
}

impl Drop for RustScanExecutor {
    fn drop(&mut self) {
        // A forgotten executor never leaves motion running: abort and join, with the GIL released
        // (the scan's threads never need it, but other Python threads may).
        if let Some(scan) = self.executor.scan() {
            Python::attach(|py| {
                py.detach(move || {
                    if !scan.is_finished() {
                        scan.abort();
                    }
                    let _ = scan.join(None);
                })
            });
        }
    }
}

/// Runs the production pacer on a real-time thread for `duration_s` at `rate_hz`, sampling
/// `detector` ("virtual_probe" or "board") on a simulated bench whose Arcus is driven meanwhile,
/// and returns lateness statistics (GIL released meanwhile).
#[pyfunction]
#[pyo3(signature = (rate_hz, duration_s, realtime=true, detector="virtual_probe"))]
fn trigger_benchmark<'py>(py: Python<'py>, rate_hz: f64, duration_s: f64, realtime: bool, detector: &str) -> PyResult<Bound<'py, PyDict>> {
    let which = BenchDetector::parse(detector).map_err(errors::invalid_argument)?;
    let b = py.detach(move || core_trigger_benchmark(rate_hz, duration_s, realtime, which)).map_err(errors::invalid_argument)?;
    let d = PyDict::new(py);
    d.set_item("rate_hz", rate_hz)?;
    d.set_item("duration_s", duration_s)?;
    d.set_item("detector", which.name())?;
    d.set_item("ticks", b.ticks)?;
    d.set_item("samples", b.samples)?;
    d.set_item("motion_commands", b.motion_commands)?;
    d.set_item("trigger_lateness_us", lateness_dict(py, &b.lateness)?)?;
    d.set_item("missed_triggers", b.missed)?;
    d.set_item("dropped_records", b.dropped)?;
    d.set_item("rt", rt_dict(py, &b.rt)?)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RustScanExecutor>()?;
    m.add_class::<PyScanCompletion>()?;
    m.add_function(wrap_pyfunction!(trigger_benchmark, m)?)?;
    Ok(())
}
