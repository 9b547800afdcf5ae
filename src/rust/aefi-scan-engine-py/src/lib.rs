//! `pymodaq_plugins_aefi._engine`: thin PyO3 bindings of `aefi-scan-engine`.
//!
//! Rules: no logic here beyond conversion; every call that may block (a wire round trip, a
//! join, a sleep) releases the GIL (`py.detach`); every Rust error becomes one of the typed
//! exceptions of [`errors`]. One file per core module; each has a `register` function.
use pyo3::prelude::*;

mod arcus;
mod board;
mod engine;
mod errors;
mod facts;
mod field;
mod lendable;
mod links;
mod sim;

/// The engine's clock (ns): every engine stamp is on it. CLOCK_MONOTONIC on Linux and macOS (the
/// same value as `time.monotonic_ns()` there), QueryPerformanceCounter on Windows.
#[pyfunction]
fn now_ns() -> i64 {
    aefi_scan_engine::clock::mono_ns()
}

#[pymodule]
#[pyo3(name = "_engine")]
fn engine_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(now_ns, m)?)?;
    errors::register(m)?;
    facts::register(m)?;
    field::register(m)?;
    board::register(m)?;
    arcus::register(m)?;
    links::register(m)?;
    sim::register(m)?;
    engine::register(m)?;
    Ok(())
}
