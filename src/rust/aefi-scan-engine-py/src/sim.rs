//! Simulator helpers for Python: ground truth and fault injection of in-process `sim://`
//! benches, and the PTY/TCP server behind `aefi-arcus-sim`.
use aefi_scan_engine::arcus::protocol::Axis;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::transport::LinkUrl;
use aefi_sim::arcus::{ArcusSim, Fault, SimConfig, TruthLog, UNVERIFIED_CHOICES};
use aefi_sim::bench::{find_bench, lock_sim, SimBench};
#[cfg(unix)]
use aefi_sim::serve::ArcusPty;
use aefi_sim::serve::{ArcusTcpServer, ServeOptions};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

use crate::errors::Exc;

/// Waits with the GIL released until the server thread `server` finishes, checking for signals
/// every 50 ms. A signal's error (e.g. KeyboardInterrupt) is returned at once: the caller stops
/// and joins the server.
pub(crate) fn wait_finished<T>(py: Python<'_>, server: &JoinHandle<T>) -> PyResult<()> {
    loop {
        let finished = py.detach(|| {
            std::thread::sleep(Duration::from_millis(50));
            server.is_finished()
        });
        if finished {
            return Ok(());
        }
        py.check_signals()?;
    }
}

fn bench_of(url: &str) -> PyResult<Arc<SimBench>> {
    let name = match LinkUrl::parse(url) {
        Ok(LinkUrl::Sim { name, .. }) => name,
        Ok(_) => return Err(crate::errors::invalid_argument(format!("url: {url:?} is not a sim:// URL"))),
        Err(e) => return Err(crate::errors::invalid_argument(format!("url: {e}"))),
    };
    find_bench(&name).ok_or_else(|| Exc::PortNotFound.err(format!("no simulated bench {url:?} in this process (open a link to it first)")))
}

fn axis_arg(name: &str) -> PyResult<Axis> {
    Axis::parse_name(name).map_err(|m| crate::errors::invalid_argument(format!("axis: {m}")))
}

/// `positions(times)` at the times of `t_ns`, computed with the GIL released, as a numpy array.
fn positions_at<'py>(
    py: Python<'py>,
    t_ns: &PyReadonlyArray1<'py, i64>,
    positions: impl FnOnce(&[i64]) -> Vec<f64> + Send,
) -> Bound<'py, PyArray1<f64>> {
    let times: Vec<i64> = t_ns.as_array().iter().copied().collect();
    PyArray1::from_vec(py, py.detach(move || positions(&times)))
}

/// True positions (pulses, counter frame) of `axis` of the in-process bench `url` at `t_ns`.
#[pyfunction]
fn sim_truth<'py>(py: Python<'py>, url: &str, axis: &str, t_ns: PyReadonlyArray1<'py, i64>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let bench = bench_of(url)?;
    let a = axis_arg(axis)?;
    let truth = bench.truth.clone();
    Ok(positions_at(py, &t_ns, move |times| truth.true_positions_steps(a, times)))
}

/// The SYN output of `axis` of the in-process bench `url`: `(armed_ns, event_ns)` while it is armed
/// (`event_ns`: when the compare fires, or fired, on the current plan; None if it does not), None
/// while SYN is off. The simulated DAQ's start trigger (PFI0 wired to DO1) reads it.
#[pyfunction]
fn sim_sync_event(url: &str, axis: &str) -> PyResult<Option<(i64, Option<i64>)>> {
    let bench = bench_of(url)?;
    let a = axis_arg(axis)?;
    let sim = lock_sim(&bench.arcus);
    Ok(sim.sync_armed_ns(a).map(|armed| (armed, sim.sync_event_ns(a))))
}

/// First instant ≥ `after_ns` at which `axis` of the bench `url` truly reaches `position_steps`
/// (counter frame), None if it does not on the current plan.
#[pyfunction]
fn sim_crossing_ns(url: &str, axis: &str, position_steps: f64, after_ns: i64) -> PyResult<Option<i64>> {
    let bench = bench_of(url)?;
    let a = axis_arg(axis)?;
    let crossing = lock_sim(&bench.arcus).true_crossing_ns(a, position_steps, after_ns);
    Ok(crossing)
}

/// True positions computed from a motion log written by another process (`--truth-log` JSON).
#[pyfunction]
fn sim_truth_from_log<'py>(
    py: Python<'py>,
    log_json: &str,
    axis: &str,
    t_ns: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let a = axis_arg(axis)?;
    let log = TruthLog::from_json(log_json).map_err(|e| crate::errors::invalid_argument(format!("log_json: not a truth log: {e}")))?;
    Ok(positions_at(py, &t_ns, move |times| times.iter().map(|t| log.true_position_steps(a, *t)).collect()))
}

/// The motion log of the in-process bench `url`, as JSON (the `--truth-log` format).
#[pyfunction]
fn sim_truth_log(py: Python<'_>, url: &str) -> PyResult<String> {
    let bench = bench_of(url)?;
    let truth = bench.truth.clone();
    py.detach(move || truth.log().to_json()).map_err(|e| crate::errors::invalid_argument(e.to_string()))
}

const FAULT_KINDS: &str = "drop(count=1), garble(count=1), delay(delay_ms, count=1), disconnect, reconnect, \
     limit(axis, position_steps), stall(axis), unstall(axis), input(input, on=True)";

fn fault_of(kind: &str, params: Option<&Bound<'_, PyDict>>) -> PyResult<Fault> {
    let get = |key: &str| -> Option<Bound<'_, PyAny>> { params.and_then(|p| p.get_item(key).ok().flatten()) };
    let allowed: &[&str] = match kind {
        "drop" | "garble" => &["count"],
        "delay" => &["delay_ms", "count"],
        "disconnect" | "reconnect" => &[],
        "limit" => &["axis", "position_steps"],
        "stall" | "unstall" => &["axis"],
        "input" => &["input", "on"],
        _ => return Err(crate::errors::invalid_argument(format!("kind: unknown fault {kind:?} (allowed: {FAULT_KINDS})"))),
    };
    if let Some(p) = params {
        for k in p.keys() {
            let k: String = k.extract()?;
            if !allowed.contains(&k.as_str()) {
                return Err(crate::errors::invalid_argument(format!("{kind}: unexpected parameter {k:?} (allowed: {allowed:?})")));
            }
        }
    }
    let count = || -> PyResult<u64> { get("count").map_or(Ok(1), |v| v.extract()) };
    let required = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        get(key).ok_or_else(|| crate::errors::invalid_argument(format!("{kind}: parameter {key:?} is required")))
    };
    let axis = || -> PyResult<Axis> { axis_arg(&required("axis")?.extract::<String>()?) };
    Ok(match kind {
        "drop" => Fault::DropReplies { count: count()? },
        "garble" => Fault::GarbleReplies { count: count()? },
        "delay" => {
            let ms: f64 = required("delay_ms")?.extract()?;
            if !(0.0..=60_000.0).contains(&ms) {
                return Err(crate::errors::invalid_argument(format!("delay_ms must be in 0..=60000 (got {ms})")));
            }
            Fault::DelayReplies { count: count()?, delay_ns: (ms * 1e6) as i64 }
        }
        "disconnect" => Fault::Disconnect,
        "reconnect" => Fault::Reconnect,
        "limit" => Fault::LimitAt { axis: axis()?, position: required("position_steps")?.extract()? },
        "stall" => Fault::Stall { axis: axis()? },
        "unstall" => Fault::Unstall { axis: axis()? },
        _ => {
            let input: u8 = required("input")?.extract()?;
            if !(1..=8).contains(&input) {
                return Err(crate::errors::invalid_argument(format!("input must be 1..=8 (got {input})")));
            }
            Fault::DigitalInput { input, on: get("on").map_or(Ok(true), |v| v.extract())? }
        }
    })
}

/// Injects a fault into the in-process bench `url` now (kinds: see FAULT_KINDS).
#[pyfunction]
#[pyo3(signature = (url, kind, **params))]
fn sim_inject_fault(py: Python<'_>, url: &str, kind: &str, params: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let bench = bench_of(url)?;
    let fault = fault_of(kind, params)?;
    py.detach(move || bench.inject(fault));
    Ok(())
}

/// Serves a simulated PMX-4EX-SA on a new PTY (`tcp=None`) or on TCP (`tcp="HOST:PORT"`) until
/// SIGINT (KeyboardInterrupt; the CLI turns SIGTERM into one). `on_ready(path_or_url)` is called
/// once, before serving. `options` are simulator options (`("limit", "X=-1000:300000")`, …).
/// Blocks with the GIL released (signals checked every 50 ms).
#[pyfunction]
#[pyo3(signature = (tcp=None, options=Vec::new(), no_delay=false, truth_log=None, on_ready=None))]
fn serve_arcus_sim(
    py: Python<'_>,
    tcp: Option<String>,
    options: Vec<(String, String)>,
    no_delay: bool,
    truth_log: Option<std::path::PathBuf>,
    on_ready: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let cfg = SimConfig::default()
        .with_options(options.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(crate::errors::invalid_argument)?;
    let sim = Arc::new(Mutex::new(ArcusSim::new(cfg, mono_ns())));
    let opts = ServeOptions { no_delay, truth_log };
    let stop = Arc::new(AtomicBool::new(false));
    let stop_server = Arc::clone(&stop);
    let server = match tcp {
        #[cfg(unix)]
        None => {
            let pty = ArcusPty::open().map_err(|e| crate::errors::simulator_error(e.to_string()))?;
            if let Some(cb) = &on_ready {
                cb.call1((pty.path().to_string(),))?;
            }
            std::thread::spawn(move || pty.serve(sim, &opts, &stop_server))
        }
        #[cfg(not(unix))]
        None => {
            return Err(crate::errors::simulator_error(
                "a pseudo-terminal needs Unix: serve the simulator on TCP (tcp=\"127.0.0.1:PORT\")",
            ));
        }
        Some(addr) => {
            let server = ArcusTcpServer::bind(&addr).map_err(|e| crate::errors::simulator_error(e.to_string()))?;
            if let Some(cb) = &on_ready {
                cb.call1((server.url().to_string(),))?;
            }
            std::thread::spawn(move || server.serve(sim, &opts, &stop_server))
        }
    };
    if let Err(e) = wait_finished(py, &server) {
        stop.store(true, Ordering::Relaxed);
        let _ = py.detach(|| server.join());
        return Err(e);
    }
    match py.detach(|| server.join()) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(crate::errors::simulator_error(format!("Arcus simulator server failed: {e}"))),
        Err(_) => Err(crate::errors::simulator_error("Arcus simulator server thread panicked")),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve_arcus_sim, m)?)?;
    m.add("ARCUS_SIM_CHOICES", UNVERIFIED_CHOICES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())?;
    m.add_function(wrap_pyfunction!(sim_truth, m)?)?;
    m.add_function(wrap_pyfunction!(sim_truth_log, m)?)?;
    m.add_function(wrap_pyfunction!(sim_truth_from_log, m)?)?;
    m.add_function(wrap_pyfunction!(sim_inject_fault, m)?)?;
    m.add_function(wrap_pyfunction!(sim_sync_event, m)?)?;
    m.add_function(wrap_pyfunction!(sim_crossing_ns, m)?)?;
    Ok(())
}
