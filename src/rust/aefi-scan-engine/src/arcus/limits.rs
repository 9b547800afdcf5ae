//! What the PMX-4EX-SA accepts, defined once: the speed window, the ramp-time ceiling and the
//! position counter. The driver refuses outside them, the simulator answers as the controller
//! does, the Python stage checks a request against them before anything is sent.

/// Lowest HS/LS the controller accepts (manual §6.1), pulses/s.
pub const MIN_SPEED_PPS: i64 = 1;

/// Largest HS/LS the controller accepts (manual §6.1), pulses/s.
pub const MAX_SPEED_PPS: i64 = 6_000_000;

/// Shortest ACC/DEC the controller accepts, ms.
pub const MIN_ACCEL_MS: f64 = 1.0;

/// Range of the 32-bit position counter.
pub const POSITION_RANGE: std::ops::RangeInclusive<i64> = (i32::MIN as i64)..=(i32::MAX as i64);

/// Largest ACC/DEC (ms) the controller accepts at this HS/LS: ((HS − LS) / δ) × 1000 ms, δ by
/// speed window (manual App. A.1); a larger value is clamped by the controller, not refused.
///
/// ```
/// use aefi_scan_engine::arcus::limits::max_accel_ms;
/// assert_eq!(max_accel_ms(1500.0, 10.0), 29_800.0);
/// assert_eq!(max_accel_ms(10.0, 10.0), 1.0);
/// ```
pub fn max_accel_ms(hs_pps: f64, ls_pps: f64) -> f64 {
    let delta = match hs_pps {
        h if h <= 65_000.0 => 50.0,
        h if h <= 130_000.0 => 100.0,
        h if h <= 325_000.0 => 200.0,
        h if h <= 650_000.0 => 800.0,
        h if h <= 1_300_000.0 => 1500.0,
        h if h <= 3_200_000.0 => 3800.0,
        _ => 7500.0,
    };
    ((hs_pps - ls_pps) / delta * 1000.0).max(MIN_ACCEL_MS)
}
