//! The acquisition board for Python: the board simulator's PTY server (`serve_board_sim`).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aefi_scan_engine::sim::board::{static_probe, BoardModel, BoardSimConfig, BoardSimPort};
use aefi_scan_engine::sim::board_serve::{BoardPty, ServeEnd};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// Serves a simulated board on a new pseudo-terminal until SIGINT (KeyboardInterrupt) or the
/// `unplug` fault. `on_ready(path)` is called once with the PTY path clients open. Blocks with
/// the GIL released (signals are checked every 50 ms). Returns "stopped" or "unplugged".
#[pyfunction]
#[pyo3(signature = (probe_mm=(38.0, 32.0), timing="wire", noise_volts=aefi_scan_engine::sim::board::DEFAULT_NOISE_VOLTS, seed=None, on_ready=None))]
fn serve_board_sim(
    py: Python<'_>,
    probe_mm: (f64, f64),
    timing: &str,
    noise_volts: f64,
    seed: Option<u64>,
    on_ready: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let wire_timing = match timing {
        "wire" => true,
        "none" => false,
        _ => return Err(PyValueError::new_err(format!("timing = {timing:?} is not allowed (allowed: \"wire\", \"none\")"))),
    };
    if !(noise_volts.is_finite() && noise_volts >= 0.0) {
        return Err(PyValueError::new_err(format!("noise_volts = {noise_volts} is out of range (allowed: >= 0)")));
    }
    let mut cfg = BoardSimConfig { wire_timing, noise_volts, ..Default::default() };
    if let Some(seed) = seed {
        cfg.seed = seed;
    }
    let port = BoardSimPort::new(BoardModel::new(cfg, static_probe(probe_mm.0, probe_mm.1)));
    let pty = BoardPty::open().map_err(|e| PyOSError::new_err(format!("cannot create a pseudo-terminal: {e}")))?;
    if let Some(cb) = on_ready {
        cb.call1((pty.path().to_string(),))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop_server = Arc::clone(&stop);
    let server = std::thread::spawn(move || pty.serve(port, &stop_server));
    loop {
        let finished = py.detach(|| {
            std::thread::sleep(Duration::from_millis(50));
            server.is_finished()
        });
        if finished {
            break;
        }
        if let Err(e) = py.check_signals() {
            stop.store(true, Ordering::Relaxed);
            let _ = py.detach(|| server.join());
            return Err(e);
        }
    }
    match py.detach(|| server.join()) {
        Ok(Ok(ServeEnd::Stopped)) => Ok("stopped".into()),
        Ok(Ok(ServeEnd::Unplugged)) => Ok("unplugged".into()),
        Ok(Err(e)) => Err(PyOSError::new_err(format!("board simulator PTY failed: {e}"))),
        Err(_) => Err(PyOSError::new_err("board simulator thread panicked")),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve_board_sim, m)?)?;
    Ok(())
}
