//! The physical minimum time of a plan: what the motors need at the configured speeds and ramps,
//! with an instant link and an executor that never waits.
//!
//! The scan's `efficiency` is this time over the wall time, and its overhead per line is the
//! difference spread over the lines. The minimum is the one the executor could reach, with every
//! overlap it is allowed:
//! - the axes go to the first line's run-up start together (fast and slow in parallel), the slow
//!   axis then settles (`settle_ms`);
//! - each line is its whole trapezoid, run-up to run-out, at the fly speed;
//! - the slow step to the next line starts as soon as the last sample of a line is in (the fast
//!   axis leaves the sampled span), in parallel with the fast axis' run-out and any repositioning
//!   of the fast axis (a unidirectional raster's return, at the fly speed the scan sets); the next
//!   line starts when both axes are there and the slow axis has settled.
use super::model::Trapezoid;
use super::plan::{AxisSpeeds, ValidatedPlan};

/// Where the axes were when the scan was prepared (steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPositions {
    /// Fast axis.
    pub fast_steps: i64,
    /// Slow axis (None when the plan has none).
    pub slow_steps: Option<i64>,
}

/// Duration (s) of a single-axis move from `from` to `to` at `speeds`.
pub fn move_s(from: i64, to: i64, speeds: &AxisSpeeds) -> f64 {
    if from == to {
        return 0.0;
    }
    Trapezoid::new(from as f64, to as f64, speeds.ls_pps, speeds.hs_pps, speeds.acc_ms * 1e-3, speeds.dec_ms * 1e-3).duration_s()
}

/// Seconds the slow axis needs to step from `from` to `to` and settle (0 when it stays).
fn slow_step_s(from: i64, to: i64, slow: &AxisSpeeds, settle_ms: f64) -> f64 {
    if from == to {
        0.0
    } else {
        move_s(from, to, slow) + settle_ms * 1e-3
    }
}

/// The physical minimum (s) of `vp` from `start`; `slow` is the slow axis' speed settings (None
/// when the plan has no slow axis).
///
/// ```
/// use aefi_scan_engine::engine::physics::{minimum_s, StartPositions};
/// use aefi_scan_engine::engine::plan::{validate, AxisSpeeds, FlyPlan};
/// let speeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 1000.0, acc_ms: 300.0, dec_ms: 300.0 };
/// let vp = validate(&FlyPlan { slow_axis: None, ..FlyPlan::default() }, &speeds).unwrap();
/// let at_start = StartPositions { fast_steps: vp.lines[0].runup_start_steps, slow_steps: None };
/// // one line from the run-up start: exactly its trapezoid
/// let line = aefi_scan_engine::engine::physics::move_s(vp.lines[0].runup_start_steps, vp.lines[0].runout_end_steps, &vp.fly_speeds);
/// assert!((minimum_s(&vp, &at_start, None) - line).abs() < 1e-12);
/// ```
pub fn minimum_s(vp: &ValidatedPlan, start: &StartPositions, slow: Option<&AxisSpeeds>) -> f64 {
    let fly = &vp.fly_speeds;
    let settle_ms = vp.plan.settle_ms;
    let slow_step = |from: Option<i64>, to: i64| match (from, slow) {
        (Some(from), Some(s)) => slow_step_s(from, to, s, settle_ms),
        _ => 0.0,
    };
    let Some(first) = vp.lines.first() else { return 0.0 };
    let mut total = move_s(start.fast_steps, first.runup_start_steps, fly).max(slow_step(start.slow_steps, first.slow_steps));
    for (i, line) in vp.lines.iter().enumerate() {
        let flight = Trapezoid::new(
            line.runup_start_steps as f64,
            line.runout_end_steps as f64,
            fly.ls_pps,
            fly.hs_pps,
            fly.acc_ms * 1e-3,
            fly.dec_ms * 1e-3,
        );
        match vp.lines.get(i + 1) {
            None => total += flight.duration_s(),
            Some(next) => {
                let span_end_s = flight.time_at_distance((line.span_to_steps - line.runup_start_steps).abs() as f64);
                let fast_rest_s = flight.duration_s() - span_end_s + move_s(line.runout_end_steps, next.runup_start_steps, fly);
                total += span_end_s + fast_rest_s.max(slow_step(Some(line.slow_steps), next.slow_steps));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{validate, Axis, FlyPlan, Pattern};

    const ARCUS: AxisSpeeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 1000.0, acc_ms: 300.0, dec_ms: 300.0 };

    fn demo_plan(pattern: Pattern) -> ValidatedPlan {
        // the `make demo` raster: 14..74 mm at 20 mm/s, 8 lines over 16..58 mm, 21.8 µm/step
        let plan = FlyPlan {
            fast_axis: Axis::X,
            slow_axis: Some(Axis::Y),
            fast_start_steps: 642,
            fast_stop_steps: 3394,
            slow_start_steps: 734,
            slow_stop_steps: 2661,
            lines: 8,
            pattern,
            speed_pps: 917.0,
            ..FlyPlan::default()
        };
        validate(&plan, &ARCUS).unwrap()
    }

    #[test]
    fn a_triangular_move_follows_the_ramp_law() {
        // 275 steps is shorter than two full ramps (2 × 165): a triangle, peak √(LS² + a·L)
        let a = (1000.0 - 100.0) / 0.3;
        let peak = (100.0f64 * 100.0 + a * 275.0).sqrt();
        assert!((move_s(0, 275, &ARCUS) - 2.0 * (peak - 100.0) / a).abs() < 1e-9);
        assert_eq!(move_s(5, 5, &ARCUS), 0.0);
    }

    #[test]
    fn serpentine_steps_overlap_the_run_out() {
        let vp = demo_plan(Pattern::Serpentine);
        let start = StartPositions { fast_steps: vp.lines[0].runup_start_steps, slow_steps: Some(vp.lines[0].slow_steps) };
        let total = minimum_s(&vp, &start, Some(&ARCUS));
        let line = move_s(vp.lines[0].runup_start_steps, vp.lines[0].runout_end_steps, &vp.fly_speeds);
        let steps: f64 = vp.lines.windows(2).map(|w| move_s(w[0].slow_steps, w[1].slow_steps, &ARCUS)).sum();
        let step = move_s(vp.lines[0].slow_steps, vp.lines[1].slow_steps, &ARCUS);
        // without overlap it would be 8 lines + 7 steps; the run-out after the last sample (the
        // cruise margin, then the 300 ms ramp down) hides under each step, which is longer
        let sequential = 8.0 * line + steps;
        let margin_s = (vp.runout_steps as f64 - (100.0 + 917.0) / 2.0 * 0.3) / 917.0;
        let run_out_s = margin_s + 0.3;
        assert!(step > run_out_s && margin_s > 0.02 && margin_s < 0.03, "{step} {margin_s}");
        assert!((total - (sequential - 7.0 * run_out_s)).abs() < 1e-6, "{total} vs {sequential}");
        // the serpentine run-out ends where the next run-up starts: no fast repositioning
        assert_eq!(vp.lines[0].runout_end_steps, vp.lines[1].runup_start_steps);
    }

    #[test]
    fn unidirectional_lines_pay_the_return_move() {
        let serp = demo_plan(Pattern::Serpentine);
        let uni = demo_plan(Pattern::Unidirectional);
        let at =
            |vp: &ValidatedPlan| StartPositions { fast_steps: vp.lines[0].runup_start_steps, slow_steps: Some(vp.lines[0].slow_steps) };
        let extra = minimum_s(&uni, &at(&uni), Some(&ARCUS)) - minimum_s(&serp, &at(&serp), Some(&ARCUS));
        let back = move_s(uni.lines[0].runout_end_steps, uni.lines[1].runup_start_steps, &uni.fly_speeds);
        // each transition waits for the return instead of the (shorter) slow step
        assert!(extra > 7.0 * (back - 0.6) && extra < 7.0 * back, "{extra} vs 7 × {back}");
    }

    #[test]
    fn the_move_to_the_start_counts_its_slower_axis_and_the_settle() {
        let mut vp = demo_plan(Pattern::Serpentine);
        let here = StartPositions { fast_steps: vp.lines[0].runup_start_steps, slow_steps: Some(vp.lines[0].slow_steps) };
        let from_zero = StartPositions { fast_steps: 0, slow_steps: Some(0) };
        let to_start = move_s(0, vp.lines[0].slow_steps, &ARCUS).max(move_s(0, vp.lines[0].runup_start_steps, &vp.fly_speeds));
        let d = minimum_s(&vp, &from_zero, Some(&ARCUS)) - minimum_s(&vp, &here, Some(&ARCUS));
        assert!((d - to_start).abs() < 1e-9, "{d} vs {to_start}");
        vp.plan.settle_ms = 100.0;
        let settled = minimum_s(&vp, &here, Some(&ARCUS));
        vp.plan.settle_ms = 0.0;
        // seven steps, each now longer than the run-out it hides: +0.1 s each
        assert!((settled - minimum_s(&vp, &here, Some(&ARCUS)) - 0.7).abs() < 1e-9);
    }
}
