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
mod sim;

/// Monotonic nanoseconds, the same clock as `time.monotonic_ns()` and every engine stamp.
#[pyfunction]
fn mono_ns() -> i64 {
    aefi_scan_engine::clock::mono_ns()
}

#[pymodule]
#[pyo3(name = "_engine")]
fn engine_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(mono_ns, m)?)?;
    errors::register(m)?;
    facts::register(m)?;
    field::register(m)?;
    board::register(m)?;
    arcus::register(m)?;
    sim::register(m)?;
    engine::register(m)?;
    Ok(())
}
