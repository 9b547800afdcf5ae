//! The acquisition board for Python: `BoardController` (the core driver in a lendable slot, so a
//! flyscan can borrow the open link; every call releases the GIL; while lent, every method
//! raises `PortBusyError` naming the borrower), the simulated board's fault injection and ground
//! truth, and its PTY server (`serve_board_sim`).
use aefi_sim::opener::BenchOpener;
use std::sync::{Arc, Mutex};

use aefi_scan_engine::arcus::protocol::Axis;
use aefi_scan_engine::board::driver::{BoardDriver, BoardError, TimedMeasurement};
use aefi_scan_engine::board::protocol::N_AVG_MAX;
use aefi_scan_engine::board::registers::BoardConfig;
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::board_detector::{BoardDetector, BoardSampling};
use aefi_scan_engine::engine::detector::Detector;
use aefi_scan_engine::engine::plan::FlyPlan;
use aefi_scan_engine::transport::{ByteLink, LinkUrl};
use aefi_sim::arcus::{ArcusSim, SimConfig};
use aefi_sim::bench::TruthHandle;
use aefi_sim::board::{static_probe, BoardFault, BoardModel, BoardSimConfig, BoardSimHandle, BoardSimPort, ProbeFn};
use aefi_sim::board_bench::board_handle;
#[cfg(unix)]
use aefi_sim::board_serve::{BoardPty, ServeEnd};
#[cfg(unix)]
use aefi_sim::serve::{ArcusPty, ServeOptions};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{board_error, lease_error};
use crate::lendable::{lendable_pymethods, Lendable};

/// Serves a simulated board on a new pseudo-terminal until SIGINT (KeyboardInterrupt) or the
/// `unplug` fault. `on_ready(path)` is called once with the PTY path clients open.
///
/// With `arcus_options` (a list of the Arcus simulator's `key=value` options, possibly empty) a
/// simulated Arcus is served too, on a second PTY handed to `on_arcus_ready(path)`, and the board
/// reads the field where that Arcus's X/Y axes truly are (steps × `mm_per_step`): one process,
/// one ground truth. Otherwise the probe stays at `probe_mm`. `filter_tau_ms`: the detection
/// chain's first-order low-pass (ms, 0: none; see `aefi_sim::detection`). Blocks with the GIL released
/// (signals are checked every 50 ms). Returns "stopped" or "unplugged".
#[pyfunction]
#[pyo3(signature = (probe_mm=(38.0, 32.0), timing="wire", noise_volts=aefi_sim::board::DEFAULT_NOISE_VOLTS, seed=None, on_ready=None, arcus_options=None, on_arcus_ready=None, mm_per_step=aefi_sim::board::DEFAULT_MM_PER_STEP, offset_volts=0.0, drift_volts_per_s=0.0, filter_tau_ms=0.0))]
#[allow(clippy::too_many_arguments)]
fn serve_board_sim(
    py: Python<'_>,
    probe_mm: (f64, f64),
    timing: &str,
    noise_volts: f64,
    seed: Option<u64>,
    on_ready: Option<Bound<'_, PyAny>>,
    arcus_options: Option<Vec<(String, String)>>,
    on_arcus_ready: Option<Bound<'_, PyAny>>,
    mm_per_step: f64,
    offset_volts: f64,
    drift_volts_per_s: f64,
    filter_tau_ms: f64,
) -> PyResult<String> {
    let wire_timing = match timing {
        "wire" => true,
        "none" => false,
        _ => return Err(crate::errors::invalid_argument(format!("timing = {timing:?} is not allowed (allowed: \"wire\", \"none\")"))),
    };
    if !(noise_volts.is_finite() && noise_volts >= 0.0) {
        return Err(crate::errors::invalid_argument(format!("noise_volts = {noise_volts} is out of range (allowed: >= 0)")));
    }
    if !(mm_per_step.is_finite() && mm_per_step > 0.0) {
        return Err(crate::errors::invalid_argument(format!("mm_per_step = {mm_per_step} is out of range (allowed: > 0)")));
    }
    if !(offset_volts.is_finite() && drift_volts_per_s.is_finite()) {
        return Err(crate::errors::invalid_argument("offset_volts and drift_volts_per_s must be finite numbers".to_string()));
    }
    let mut cfg = BoardSimConfig {
        wire_timing,
        noise_volts,
        baseline_offset_volts: offset_volts,
        baseline_drift_volts_per_s: drift_volts_per_s,
        ..Default::default()
    };
    cfg.apply_option("filter_tau_ms", &filter_tau_ms.to_string()).map_err(crate::errors::invalid_argument)?;
    if let Some(seed) = seed {
        cfg.seed = seed;
    }
    let arcus = match &arcus_options {
        Some(options) => {
            let acfg = SimConfig::default()
                .with_options(options.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(crate::errors::invalid_argument)?;
            Some(Arc::new(Mutex::new(ArcusSim::new(acfg, mono_ns()))))
        }
        None => None,
    };
    let probe: ProbeFn = match &arcus {
        Some(sim) => {
            let truth = TruthHandle::new(Arc::clone(sim));
            Arc::new(move |t| (truth.true_position_steps(Axis::X, t) * mm_per_step, truth.true_position_steps(Axis::Y, t) * mm_per_step))
        }
        None => static_probe(probe_mm.0, probe_mm.1),
    };
    let port = BoardSimPort::new(BoardModel::new(cfg, probe));
    #[cfg(unix)]
    return serve_board_on_pty(py, port, arcus, on_ready, on_arcus_ready, wire_timing);
    #[cfg(not(unix))]
    {
        let _ = (py, port, arcus, on_ready, on_arcus_ready);
        Err(crate::errors::simulator_error(
            "the board simulator is served on a pseudo-terminal, which needs Unix; on Windows use the in-process bench sim://NAME",
        ))
    }
}

/// Serves `port` (and the Arcus `arcus`, if any) on pseudo-terminals until stopped.
#[cfg(unix)]
fn serve_board_on_pty(
    py: Python<'_>,
    port: BoardSimPort,
    arcus: Option<Arc<Mutex<ArcusSim>>>,
    on_ready: Option<Bound<'_, PyAny>>,
    on_arcus_ready: Option<Bound<'_, PyAny>>,
    wire_timing: bool,
) -> PyResult<String> {
    use crate::sim::wait_finished;
    use std::sync::atomic::{AtomicBool, Ordering};
    let pty = BoardPty::open().map_err(|e| crate::errors::simulator_error(format!("cannot create a pseudo-terminal: {e}")))?;
    if let Some(cb) = on_ready {
        cb.call1((pty.path().to_string(),))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let arcus_server = match arcus {
        Some(sim) => {
            let apty = ArcusPty::open().map_err(|e| crate::errors::simulator_error(e.to_string()))?;
            if let Some(cb) = on_arcus_ready {
                cb.call1((apty.path().to_string(),))?;
            }
            let opts = ServeOptions { no_delay: !wire_timing, truth_log: None };
            let stop_arcus = Arc::clone(&stop);
            Some(std::thread::spawn(move || apty.serve(sim, &opts, &stop_arcus)))
        }
        None => None,
    };
    let stop_server = Arc::clone(&stop);
    let server = std::thread::spawn(move || pty.serve(port, &stop_server));
    let stop_all = |py: Python<'_>| {
        stop.store(true, Ordering::Relaxed);
        if let Some(a) = arcus_server {
            let _ = py.detach(|| a.join());
        }
    };
    if let Err(e) = wait_finished(py, &server) {
        stop_all(py);
        let _ = py.detach(|| server.join());
        return Err(e);
    }
    stop_all(py);
    match py.detach(|| server.join()) {
        Ok(Ok(ServeEnd::Stopped)) => Ok("stopped".into()),
        Ok(Ok(ServeEnd::Unplugged)) => Ok("unplugged".into()),
        Ok(Err(e)) => Err(crate::errors::simulator_error(format!("board simulator PTY failed: {e}"))),
        Err(_) => Err(crate::errors::simulator_error("board simulator thread panicked")),
    }
}

fn timing_dict<'py>(py: Python<'py>, m: &TimedMeasurement, window_ns: i64) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("volts", PyArray1::from_slice(py, &m.volts))?;
    d.set_item("codes", PyArray1::from_vec(py, m.codes.iter().map(|&c| i64::from(c)).collect()))?;
    d.set_item("n_avg", m.n_avg)?;
    d.set_item("t_send_ns", m.t_send_ns)?;
    d.set_item("t_recv_ns", m.t_recv_ns)?;
    d.set_item("t_mid_ns", m.t_mid_ns)?;
    d.set_item("t_err_ns", m.t_err_ns)?;
    d.set_item("window_ns", window_ns)?;
    Ok(d)
}

fn words<const N: usize, T: Copy>(name: &str, v: Option<Vec<T>>, default: [T; N]) -> PyResult<[T; N]> {
    match v {
        None => Ok(default),
        Some(v) => <[T; N]>::try_from(v.as_slice())
            .map_err(|_| crate::errors::invalid_argument(format!("{name} must have {N} values (got {})", v.len()))),
    }
}

/// The AEFI acquisition board on one link (`sim://NAME`, `serial://PATH` at 1.5 Mbaud, `tcp://`).
#[pyclass(name = "BoardController", module = "pymodaq_plugins_aefi._engine", frozen)]
pub struct PyBoardController {
    link: Lendable<BoardDriver<Box<dyn ByteLink>>>,
}

impl PyBoardController {
    fn run<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut BoardDriver<Box<dyn ByteLink>>) -> Result<R, BoardError> + Send,
    ) -> PyResult<R> {
        self.link.run(py, f, board_error)
    }
}

fn n_avg_arg(n_avg: i64) -> PyResult<u32> {
    u32::try_from(n_avg)
        .ok()
        .filter(|n| (1..=u32::from(N_AVG_MAX)).contains(n))
        .ok_or_else(|| crate::errors::invalid_argument(format!("n_avg = {n_avg} is out of range (allowed: 1..={N_AVG_MAX})")))
}

lendable_pymethods!(PyBoardController, "BoardController", {
    #[new]
    #[pyo3(signature = (url, timeout_s = 1.0))]
    fn new(py: Python<'_>, url: String, timeout_s: f64) -> PyResult<Self> {
        if !(timeout_s.is_finite() && timeout_s > 0.0 && timeout_s <= 3600.0) {
            return Err(crate::errors::invalid_argument(format!("timeout_s = {timeout_s} is out of range (allowed: 0 < t <= 3600 s)")));
        }
        let timeout_ns = (timeout_s * 1e9) as i64;
        let driver = py.detach(|| BoardDriver::open(&BenchOpener, &url, timeout_ns)).map_err(board_error)?;
        Ok(Self { link: Lendable::labelled(format!("board on {url}"), url, driver) })
    }

    /// The six channel voltages (V, CHANNEL_NAMES order) of one measurement averaged n_avg times.
    #[pyo3(signature = (n_avg = 1))]
    fn measure<'py>(&self, py: Python<'py>, n_avg: i64) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let n = n_avg_arg(n_avg)?;
        let volts = self.run(py, move |d| d.measure(n))?;
        Ok(PyArray1::from_slice(py, &volts))
    }

    /// One measurement with its stamps: dict volts, codes, n_avg, t_send_ns, t_recv_ns,
    /// t_mid_ns (estimated middle of the averaging window), t_err_ns, window_ns.
    #[pyo3(signature = (n_avg = 1))]
    fn measure_timed<'py>(&self, py: Python<'py>, n_avg: i64) -> PyResult<Bound<'py, PyDict>> {
        let n = n_avg_arg(n_avg)?;
        let (m, window) = self.run(py, move |d| Ok((d.measure_timed(n)?, d.timing().window_ns(n))))?;
        timing_dict(py, &m, window)
    }

    /// The 8 raw ADC codes of one measurement (int64 array).
    #[pyo3(signature = (n_avg = 1))]
    fn read_codes<'py>(&self, py: Python<'py>, n_avg: i64) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let n = n_avg_arg(n_avg)?;
        let codes = self.run(py, move |d| d.read_codes(n))?;
        Ok(PyArray1::from_vec(py, codes.iter().map(|&c| i64::from(c)).collect()))
    }

    /// Writes the DDS and ADC settings through the register commands; returns the number of
    /// registers written. Phases are AD9106 words (65536 = one turn), gains amplitude words.
    #[pyo3(signature = (dds_frequency_hz = 1000.0, dds_gains = None, dds_phases = None, adc_gains = None, osr = 4096, iclk_divider = 2))]
    #[allow(clippy::too_many_arguments)]
    fn configure(
        &self,
        py: Python<'_>,
        dds_frequency_hz: f64,
        dds_gains: Option<Vec<u16>>,
        dds_phases: Option<Vec<u16>>,
        adc_gains: Option<Vec<u8>>,
        osr: u16,
        iclk_divider: u8,
    ) -> PyResult<usize> {
        let default = BoardConfig::default();
        let gains = words("dds_gains", dds_gains, default.dds.map(|c| c.gain))?;
        let phases = words("dds_phases", dds_phases, default.dds.map(|c| c.phase))?;
        let mut config =
            BoardConfig { dds_frequency_hz, adc_gains: words("adc_gains", adc_gains, default.adc_gains)?, osr, iclk_divider, ..default };
        for k in 0..4 {
            config.dds[k].gain = gains[k];
            config.dds[k].phase = phases[k];
        }
        config.register_writes().map_err(|source| board_error(BoardError::Config { port: self.link.url().to_string(), source }))?;
        self.run(py, move |d| d.configure(&config))
    }

    /// Reply deadline (s).
    #[getter]
    fn timeout_s(&self, py: Python<'_>) -> PyResult<f64> {
        self.run(py, |d| Ok(d.timeout_ns() as f64 * 1e-9))
    }
});

/// The board detector of a scan: borrows the link of `board` (a `BoardController`) for the scan;
/// the link goes back when the detector is dropped, whatever ends the scan.
///
/// # Errors
/// `TypeError` if `board` is not a `BoardController`; `PortBusyError` if it is already lent;
/// `LinkError` if it is closed.
pub fn detector_for_scan(board: &Bound<'_, PyAny>, plan: &FlyPlan) -> PyResult<Box<dyn Detector>> {
    let ctrl = board.cast::<PyBoardController>().map_err(|_| pyo3::exceptions::PyTypeError::new_err("board must be a BoardController"))?;
    let ctrl = ctrl.get();
    let lent = ctrl.link.shared().lend("flyscan").map_err(|e| lease_error(e, ctrl.link.label()))?;
    // a simulated board draws its noise from the plan's seed: the run can be repeated
    if let (Some(seed), Ok(LinkUrl::Sim { name, .. })) = (plan.seed, LinkUrl::parse(ctrl.link.url())) {
        if let Some(handle) = board_handle(&name) {
            handle.reseed(seed);
        }
    }
    // The board is sampled back to back on its own I/O thread (its cadence; the plan refuses a
    // trigger rate for it): its rate is the one its averaging gives.
    Ok(Box::new(BoardDetector::with_excitation(lent, plan.board_n_avg, BoardSampling::BackToBack, plan.excitation_gains)))
}

fn sim_name(url: &str) -> PyResult<String> {
    match LinkUrl::parse(url) {
        Ok(LinkUrl::Sim { name, .. }) => Ok(name),
        _ => Err(crate::errors::invalid_argument(format!("{url:?} is not a sim://NAME URL"))),
    }
}

fn board_handle_of(url: &str) -> PyResult<BoardSimHandle> {
    let name = sim_name(url)?;
    board_handle(&name).ok_or_else(|| crate::errors::invalid_argument(format!("no simulated bench named {name:?} in this process")))
}

/// Injects a fault into the simulated board of `sim://NAME`: "garbage", "short", "silence"
/// (each for the next `count` measurements) or "unplug" (until `sim_board_fault(url, "clear")`).
#[pyfunction]
#[pyo3(signature = (url, fault, count = 1))]
fn sim_board_fault(url: &str, fault: &str, count: u32) -> PyResult<()> {
    let handle = board_handle_of(url)?;
    if fault == "clear" {
        handle.clear_faults();
        return Ok(());
    }
    let fault: BoardFault = fault.parse().map_err(|e: String| crate::errors::invalid_argument(format!("{e} (or clear)")))?;
    handle.inject(fault, count);
    Ok(())
}

/// Ground truth of the last `max` measurements of the simulated board of `sim://NAME`: dict of
/// arrays t_mid_ns, n_avg, x_mm, y_mm, volts (N, 6) (noiseless, window-averaged), lag_ns (the
/// detection chain's true lag: low-pass τ + ADC filter group delay).
#[pyfunction]
#[pyo3(signature = (url, max = 1_000_000))]
fn sim_board_truth<'py>(py: Python<'py>, url: &str, max: usize) -> PyResult<Bound<'py, PyDict>> {
    let truth = board_handle_of(url)?.truth(max);
    let d = PyDict::new(py);
    d.set_item("t_mid_ns", PyArray1::from_vec(py, truth.iter().map(|t| t.t_mid_ns).collect()))?;
    d.set_item("n_avg", PyArray1::from_vec(py, truth.iter().map(|t| i64::from(t.n_avg)).collect()))?;
    d.set_item("x_mm", PyArray1::from_vec(py, truth.iter().map(|t| t.x_mm).collect()))?;
    d.set_item("y_mm", PyArray1::from_vec(py, truth.iter().map(|t| t.y_mm).collect()))?;
    let flat: Vec<f64> = truth.iter().flat_map(|t| t.volts).collect();
    d.set_item("volts", PyArray1::from_vec(py, flat).reshape([truth.len(), 6])?)?;
    d.set_item("lag_ns", PyArray1::from_vec(py, truth.iter().map(|t| t.lag_ns).collect()))?;
    Ok(d)
}

/// Every register write the simulated board of `sim://NAME` accepted, oldest first: a list of
/// (address, value).
#[pyfunction]
fn sim_board_register_writes(url: &str) -> PyResult<Vec<(u16, u16)>> {
    Ok(board_handle_of(url)?.register_writes())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sim_board_register_writes, m)?)?;
    m.add_class::<PyBoardController>()?;
    m.add_function(wrap_pyfunction!(serve_board_sim, m)?)?;
    m.add_function(wrap_pyfunction!(sim_board_fault, m)?)?;
    m.add_function(wrap_pyfunction!(sim_board_truth, m)?)?;
    Ok(())
}
