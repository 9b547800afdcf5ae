//! The detection chain of the simulated board: what lies between the field at the probe and the
//! ADC codes the MCU averages.
//!
//! On the bench the six lock-in voltages come out of an analog synchronous detection (its output
//! low-pass) and go through the ADS131A04's digital decimation filter before the MCU reads them.
//! Both lag the probe: a flyscan at v mm/s sees every sample shifted by v × lag along its line.
//! The simulator models:
//!
//! 1. **the synchronous detection's output filter** as a first-order low-pass of time constant
//!    `filter_tau_ms` (`dy/dt = (x − y)/τ`) on each demodulated channel, `x` being the field at
//!    the probe's true position times the excitation in force (DDS1/DDS2 gains) at that instant.
//!    Its state evolves with whatever the input is: muting the sources (gains 0) makes the
//!    outputs decay with the same τ. The bench's notes say the real settling time is unknown.
//! 2. **the ADS131A04's sinc³ decimation filter** as its group delay, a pure delay (its smoothing,
//!    three data periods, is left out). Datasheet SBAS590E (ADS131A02/ADS131A04), "Digital
//!    Decimation Filter", Equation 6: `H(z) = K·[(1 − z^−N)/(N·(1 − z^−1))]³`, N = OSR — a
//!    linear-phase FIR of 3(N − 1) + 1 taps at fMOD, so its group delay is 3(N − 1)/2 modulator
//!    periods, 1.5 data periods (`fDATA = fMOD/OSR`). With the bench's settings
//!    (`ads131a04_default_config.json`: CLKIN divider 2, ICLK divider 2, OSR 4096) and a
//!    16.384 MHz CLKIN (the datasheet's nominal clock; the board's crystal is not documented):
//!    fMOD = 4.096 MHz, fDATA = 1 kHz, group delay 1.4996 ms.
//!
//! The true lag of the chain (its group delay at low frequency, what shifts a flown profile) is
//! `τ + ADC group delay`; every measurement logs it in its truth. With `filter_tau_ms = 0` (the
//! default) the board has no chain at all: an ideal detector without lag, the simulator's
//! behaviour before the chain existed, which every figure and test that does not ask for a chain
//! relies on (a probe read at its true position the instant a stage counter is set, for one).
//!
//! The input is integrated exactly for an input linear between sub-steps of at most
//! [`MAX_STEP_NS`] (a quarter of τ if shorter), split at every excitation change. The state is
//! advanced on each read only; after an idle gap of more than [`HISTORY_TAUS`] × τ it restarts
//! from the steady state of the input `HISTORY_TAUS` τ before the read (what is older has decayed
//! below e^−12).
use std::collections::VecDeque;

use crate::field::FieldMap;
use aefi_scan_engine::board::convert::Calibration;
use aefi_scan_engine::board::registers::OSR_VALUES;

/// ADS131A04 CLKIN on the simulated board (Hz): the datasheet's nominal 16.384 MHz.
pub const CLKIN_HZ: f64 = 16_384_000.0;
/// CLKIN divider of the bench's ADC configuration (`ads131a04_default_config.json`); the
/// configuration step does not write CLK1, so it is not read from the register file.
pub const CLKIN_DIVIDER: f64 = 2.0;
/// Longest integration sub-step (ns).
pub const MAX_STEP_NS: i64 = 1_000_000;
/// Time constants of history after which the filter state has forgotten its past.
pub const HISTORY_TAUS: f64 = 12.0;

/// Group delay (ns) of the ADS131A04 sinc³ filter for the CLK2 register value `clk2`
/// (ICLK divider code × 32 + OSR code): 3(OSR − 1)/2 modulator periods.
///
/// ```
/// use aefi_sim::detection::adc_group_delay_ns;
/// // the bench: ICLK divider 2 (code 1), OSR 4096 (code 0) → fMOD 4.096 MHz, 1.4996 ms
/// assert_eq!(adc_group_delay_ns(32), 1_499_634);
/// ```
pub fn adc_group_delay_ns(clk2: u16) -> i64 {
    let osr = f64::from(OSR_VALUES[usize::from(clk2 & 15)]);
    // a divider code 0 is reserved in the datasheet; the chip's smallest divider stands in for it
    let iclk_divider = f64::from(((clk2 >> 5) & 7).max(1) * 2);
    let f_mod_hz = CLKIN_HZ / CLKIN_DIVIDER / iclk_divider;
    (1.5 * (osr - 1.0) / f_mod_hz * 1e9).round() as i64
}

/// First-order low-pass state of the six channels and the excitation history it integrates.
#[derive(Debug, Clone)]
pub struct DetectionChain {
    tau_ns: f64,
    /// (instant the excitation took this value, value), oldest first; the first entry is in force
    /// from the beginning of time.
    excitation: VecDeque<(i64, f64)>,
    state: Option<(i64, [f64; 6])>,
}

impl DetectionChain {
    /// A chain with time constant `filter_tau_ms` (0: no analog filter) and the excitation in force.
    pub fn new(filter_tau_ms: f64, excitation: f64) -> Self {
        Self { tau_ns: filter_tau_ms * 1e6, excitation: VecDeque::from([(i64::MIN, excitation)]), state: None }
    }

    /// The analog filter's time constant (ns).
    pub fn tau_ns(&self) -> f64 {
        self.tau_ns
    }

    /// The excitation changes to `value` at `t_ns` (a DDS1/DDS2 gain write). Changes are taken in
    /// time order; one dated before the last is dated at the last.
    pub fn set_excitation(&mut self, t_ns: i64, value: f64) {
        let last = self.excitation.back().map_or(i64::MIN, |(t, _)| *t);
        self.excitation.push_back((t_ns.max(last), value));
    }

    fn excitation_at(&self, t_ns: i64) -> f64 {
        self.excitation.iter().rev().find(|(t, _)| *t <= t_ns).map_or(0.0, |(_, v)| *v)
    }

    /// The chain's output at `t_ns` (before the ADC delay, which the caller applies to `t_ns`):
    /// `field(t)` is the noiseless sensor-frame volts at the probe's true position at `t` for the
    /// reference excitation. Reads must come in time order; an earlier one gets the current state.
    pub fn output(&mut self, t_ns: i64, field: &dyn Fn(i64) -> [f64; 6]) -> [f64; 6] {
        if self.tau_ns <= 0.0 {
            let e = self.excitation_at(t_ns);
            return field(t_ns).map(|v| v * e);
        }
        let input = |t: i64, e: f64| field(t).map(|v| v * e);
        let history_ns = (HISTORY_TAUS * self.tau_ns) as i64;
        let (mut t, mut y) = match self.state {
            Some((t0, y0)) if t_ns - t0 <= history_ns => (t0, y0),
            _ => {
                let t0 = t_ns - history_ns;
                (t0, input(t0, self.excitation_at(t0)))
            }
        };
        if t_ns > t {
            let max_step = MAX_STEP_NS.min((self.tau_ns / 4.0) as i64).max(1);
            while t < t_ns {
                // the piece up to the next excitation change (or t_ns), at the excitation in force
                let e = self.excitation_at(t);
                let change = self.excitation.iter().map(|(tc, _)| *tc).find(|tc| *tc > t).unwrap_or(i64::MAX);
                let end = t_ns.min(change);
                let pieces = ((end - t) + max_step - 1) / max_step;
                let mut x0 = input(t, e);
                for k in 1..=pieces {
                    let tk = if k == pieces { end } else { t + (end - t) * k / pieces };
                    let x1 = input(tk, e);
                    y = self.step(y, x0, x1, (tk - t) as f64);
                    t = tk;
                    x0 = x1;
                }
            }
            // changes older than the state are folded into the one in force
            while self.excitation.len() > 1 && self.excitation[1].0 <= t {
                self.excitation.pop_front();
            }
        }
        self.state = Some((t, y));
        y
    }

    /// Exact first-order step for an input linear from `x0` to `x1` over `h_ns`:
    /// `y(h) = x1 − sτ + (y0 − x0 + sτ)·e^(−h/τ)`, `s = (x1 − x0)/h`.
    fn step(&self, y0: [f64; 6], x0: [f64; 6], x1: [f64; 6], h_ns: f64) -> [f64; 6] {
        if h_ns <= 0.0 {
            return y0;
        }
        let decay = (-h_ns / self.tau_ns).exp();
        std::array::from_fn(|c| {
            let s_tau = (x1[c] - x0[c]) / h_ns * self.tau_ns;
            x1[c] - s_tau + (y0[c] - x0[c] + s_tau) * decay
        })
    }
}

/// The noiseless sensor-frame volts of `map` at (x_mm, y_mm), for the reference excitation.
pub fn sensor_volts(map: &FieldMap, calibration: &Calibration, x_mm: f64, y_mm: f64) -> [f64; 6] {
    calibration.volts_from_field(&map.field_v_per_m(x_mm, y_mm))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(v: f64) -> impl Fn(i64) -> [f64; 6] {
        move |_| [v; 6]
    }

    #[test]
    fn mute_decays_with_tau_and_unmute_rises_with_it() {
        let tau_ms = 20.0;
        let mut chain = DetectionChain::new(tau_ms, 1.0);
        let field = constant(2.0);
        assert!((chain.output(1_000_000_000, &field)[0] - 2.0).abs() < 1e-9, "settled");
        chain.set_excitation(1_000_000_000, 0.0);
        for k in 1..=5 {
            let t = 1_000_000_000 + (f64::from(k) * tau_ms * 1e6) as i64;
            let expected = 2.0 * (-f64::from(k)).exp();
            let y = chain.output(t, &field)[3];
            assert!((y - expected).abs() < 1e-9, "after {k} τ: {y} vs {expected}");
        }
        let t_on = 2_000_000_000;
        chain.set_excitation(t_on, 1.0);
        let y = chain.output(t_on + 20_000_000, &field)[0];
        assert!((y - 2.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-6, "{y}");
    }

    #[test]
    fn a_ramp_lags_by_tau() {
        // input 1 V/s: once settled, y(t) = x(t − τ); the first read starts from a state 12 τ
        // back, whose transient (e^−12 · 1 V/s · τ = 0.12 µV) is what is left of it
        let mut chain = DetectionChain::new(20.0, 1.0);
        let ramp = |t: i64| [t as f64 * 1e-9; 6];
        let t = 5_000_000_000;
        let y = chain.output(t, &ramp)[0];
        assert!((y - (t as f64 * 1e-9 - 0.020)).abs() < 2e-7, "{y}");
        let y2 = chain.output(t + 200_000_000, &ramp)[0];
        assert!((y2 - ((t + 200_000_000) as f64 * 1e-9 - 0.020)).abs() < 1e-9, "{y2}");
    }

    #[test]
    fn no_filter_follows_the_input_and_the_excitation() {
        let mut chain = DetectionChain::new(0.0, 1.0);
        chain.set_excitation(10, 0.5);
        assert_eq!(chain.output(5, &constant(2.0))[0], 2.0);
        assert_eq!(chain.output(10, &constant(2.0))[0], 1.0);
    }

    #[test]
    fn group_delay_scales_with_osr_and_divider() {
        let bench = adc_group_delay_ns(32);
        assert!((bench as f64 * 1e-6 - 1.5).abs() < 1e-3);
        // OSR 32 (code 15): 3·31/2 periods of 4.096 MHz
        assert_eq!(adc_group_delay_ns(32 + 15), (46.5 / 4.096e6 * 1e9_f64).round() as i64);
        // ICLK divider 14 (code 7): 7× slower modulator
        assert!((adc_group_delay_ns(7 * 32) as f64 / bench as f64 - 7.0).abs() < 1e-6);
    }
}
