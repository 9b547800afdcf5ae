//! Facts of the bench and the controller, defined once in the core and read by Python from here
//! (the stage's checks, the plugins' defaults, the channel labels).
use aefi_scan_engine::arcus::limits::{self, MAX_SPEED_PPS, MIN_ACCEL_MS, MIN_SPEED_PPS, POSITION_RANGE};
use aefi_scan_engine::board::convert::CHANNEL_NAMES;
use aefi_scan_engine::engine::plan::BENCH_STEP_UM;
use pyo3::prelude::*;

/// Largest ACC/DEC (ms) the PMX-4EX-SA accepts at this HS/LS (pulses/s).
#[pyfunction]
fn max_accel_ms(high_speed_pps: f64, low_speed_pps: f64) -> f64 {
    limits::max_accel_ms(high_speed_pps, low_speed_pps)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(max_accel_ms, m)?)?;
    m.add("CHANNEL_NAMES", CHANNEL_NAMES.to_vec())?;
    m.add("BENCH_STEP_UM", BENCH_STEP_UM)?;
    m.add("MIN_SPEED_PPS", MIN_SPEED_PPS)?;
    m.add("MAX_SPEED_PPS", MAX_SPEED_PPS)?;
    m.add("MIN_ACCEL_MS", MIN_ACCEL_MS)?;
    m.add("POSITION_MIN_STEPS", *POSITION_RANGE.start())?;
    m.add("POSITION_MAX_STEPS", *POSITION_RANGE.end())?;
    Ok(())
}
