//! Analytic motion of one axis: pieces of constant acceleration against `mono_ns`, and the
//! planners of the PMX-4EX-SA trapezoid (notes §5, M 6.1, App. A).
//!
//! A plan is built in a 1-D *distance* coordinate `s` (starting at 0, non-decreasing) and then
//! mapped onto an axis ([`map_plan`]) with a direction and a scale (scale < 1 for the shorter
//! axes of a linear interpolation, so that every axis finishes together).
//!
//! Invariants: pieces of a plan are contiguous in time; within a piece the speed never changes
//! sign (ramps stop at LS > 0), so the position is monotonic and crossings have one solution.
use serde::{Deserialize, Serialize};

/// Nanoseconds in a second.
pub const NS: f64 = 1e9;

/// Open-ended duration (a rest, or a jog cruising until something stops it).
pub const FOREVER_NS: i64 = i64::MAX / 4;

/// Motion phase of a piece, as MST bits 0–2 report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not pulsing.
    Rest,
    /// Bit 0.
    Accel,
    /// Bit 2.
    Constant,
    /// Bit 1.
    Decel,
}

/// Constant acceleration from `t0_ns` for `dur_ns`: `x(τ) = x0 + v0·τ + a·τ²/2` (τ in s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Piece {
    /// Start (`mono_ns`).
    pub t0_ns: i64,
    /// Duration in ns ([`FOREVER_NS`] = open-ended).
    pub dur_ns: i64,
    /// Position at the start (pulses).
    pub x0: f64,
    /// Velocity at the start (pulses/s, signed).
    pub v0: f64,
    /// Acceleration (pulses/s², signed).
    pub a: f64,
    /// MST phase.
    pub phase: Phase,
}

impl Piece {
    /// A rest at `x` from `t0_ns` on.
    pub fn rest(t0_ns: i64, x: f64) -> Piece {
        Piece { t0_ns, dur_ns: FOREVER_NS, x0: x, v0: 0.0, a: 0.0, phase: Phase::Rest }
    }

    /// End time (saturating).
    pub fn end_ns(&self) -> i64 {
        self.t0_ns.saturating_add(self.dur_ns)
    }

    fn tau(&self, t_ns: i64) -> f64 {
        (t_ns.clamp(self.t0_ns, self.end_ns()) - self.t0_ns) as f64 / NS
    }

    /// Position at `t_ns` (clamped to the piece).
    pub fn pos_at(&self, t_ns: i64) -> f64 {
        let tau = self.tau(t_ns);
        self.x0 + self.v0 * tau + 0.5 * self.a * tau * tau
    }

    /// Velocity at `t_ns` (clamped to the piece).
    pub fn vel_at(&self, t_ns: i64) -> f64 {
        self.v0 + self.a * self.tau(t_ns)
    }

    /// Position at the end.
    pub fn end_pos(&self) -> f64 {
        self.pos_at(self.end_ns())
    }

    /// Velocity at the end.
    pub fn end_vel(&self) -> f64 {
        self.vel_at(self.end_ns())
    }

    /// First instant (ns) within the piece where the position equals `x`, if any.
    pub fn time_to_reach(&self, x: f64) -> Option<i64> {
        let d = x - self.x0;
        let dur_s = self.dur_ns as f64 / NS;
        let tau = if self.a == 0.0 {
            if self.v0 == 0.0 {
                return (d == 0.0).then_some(self.t0_ns);
            }
            d / self.v0
        } else {
            // a/2 τ² + v0 τ − d = 0; the smallest non-negative root.
            let disc = self.v0 * self.v0 + 2.0 * self.a * d;
            if disc < 0.0 {
                return None;
            }
            let sq = disc.sqrt();
            let roots = [(-self.v0 + sq) / self.a, (-self.v0 - sq) / self.a];
            roots.into_iter().filter(|r| *r >= -1e-12).fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))))?
        };
        if tau < -1e-12 || tau > dur_s + 1e-12 {
            return None;
        }
        Some(self.t0_ns + (tau.max(0.0) * NS).round() as i64)
    }
}

/// Effective speed settings of one move (pulses/s and ramp rates in pulses/s²).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ramp {
    /// Low (start/stop) speed.
    pub ls: f64,
    /// High (cruise) speed.
    pub hs: f64,
    /// Acceleration rate (HS−LS)/ACC.
    pub acc: f64,
    /// Deceleration rate (HS−LS)/DEC (or /ACC when EDEC=0).
    pub dec: f64,
}

pub use aefi_scan_engine::arcus::limits::max_accel_ms;

impl Ramp {
    /// From HS, LS (pulses/s), ACC, DEC (ms) and EDEC. ACC/DEC are clamped to 1 ms..max
    /// (M App. A.1: out-of-range ACC is adjusted, not refused).
    pub fn from_settings(hs: i64, ls: i64, acc_ms: i64, dec_ms: i64, edec: bool) -> Ramp {
        let hs = hs.max(1) as f64;
        let ls = ls.max(1) as f64;
        if hs <= ls {
            // No ramp: the move runs at HS throughout (documented simulator choice).
            return Ramp { ls: hs, hs, acc: f64::INFINITY, dec: f64::INFINITY };
        }
        let max_ms = max_accel_ms(hs, ls);
        let acc_ms = (acc_ms as f64).clamp(1.0, max_ms);
        let dec_ms = if edec { (dec_ms as f64).clamp(1.0, max_ms) } else { acc_ms };
        Ramp { ls, hs, acc: (hs - ls) / (acc_ms / 1000.0), dec: (hs - ls) / (dec_ms / 1000.0) }
    }

    /// The same profile scaled (linear interpolation: shorter axes move proportionally slower).
    pub fn scaled(&self, k: f64) -> Ramp {
        Ramp { ls: self.ls * k, hs: self.hs * k, acc: self.acc * k, dec: self.dec * k }
    }

    /// Distance needed to decelerate from `v` to LS.
    pub fn stop_distance(&self, v: f64) -> f64 {
        if v <= self.ls || !self.dec.is_finite() {
            0.0
        } else {
            (v * v - self.ls * self.ls) / (2.0 * self.dec)
        }
    }
}

fn secs_to_ns(s: f64) -> i64 {
    (s * NS).round() as i64
}

/// Appends a ramp from speed `v0` to `v1` at `rate` (distance plan, speeds ≥ 0).
fn push_ramp(plan: &mut Vec<Piece>, t: &mut i64, s: &mut f64, v0: f64, v1: f64, rate: f64, phase: Phase) {
    if (v1 - v0).abs() < 1e-12 || !rate.is_finite() {
        return;
    }
    let a = if v1 > v0 { rate } else { -rate };
    let dur = (v1 - v0) / a;
    let dur_ns = secs_to_ns(dur);
    plan.push(Piece { t0_ns: *t, dur_ns, x0: *s, v0, a, phase });
    *s += (v0 + v1) / 2.0 * dur;
    *t += dur_ns;
}

fn push_cruise(plan: &mut Vec<Piece>, t: &mut i64, s: &mut f64, v: f64, dist: f64) {
    if dist <= 0.0 || v <= 0.0 {
        return;
    }
    let dur_ns = secs_to_ns(dist / v);
    plan.push(Piece { t0_ns: *t, dur_ns, x0: *s, v0: v, a: 0.0, phase: Phase::Constant });
    *s += dist;
    *t += dur_ns;
}

/// Plan of a move of `dist` pulses starting at speed `v_start` (LS from rest), ending at LS
/// exactly on `dist`; the trapezoid of M 6.1, or the triangle of App. A.2 (ACC for both ramps)
/// when the ramps would overlap. The caller ensures the stop distance from `v_start` ≤ `dist`.
pub fn plan_move(t0_ns: i64, dist: f64, v_start: f64, r: &Ramp) -> Vec<Piece> {
    let mut plan = Vec::new();
    if dist <= 0.0 {
        return plan;
    }
    let (mut t, mut s) = (t0_ns, 0.0);
    if !r.acc.is_finite() {
        push_cruise(&mut plan, &mut t, &mut s, r.hs, dist);
        return plan;
    }
    let v_s = v_start.max(r.ls);
    let (up_rate, up_phase) = if v_s <= r.hs { (r.acc, Phase::Accel) } else { (r.dec, Phase::Decel) };
    let da = (r.hs * r.hs - v_s * v_s).abs() / (2.0 * up_rate);
    let dd = r.stop_distance(r.hs);
    if da + dd <= dist {
        push_ramp(&mut plan, &mut t, &mut s, v_s, r.hs, up_rate, up_phase);
        push_cruise(&mut plan, &mut t, &mut s, r.hs, dist - da - dd);
        push_ramp(&mut plan, &mut t, &mut s, r.hs, r.ls, r.dec, Phase::Decel);
    } else {
        // Short move: both ramps at the ACC rate (App. A.2), peak where they meet.
        let a = r.acc;
        let vp = (a * dist + (v_s * v_s + r.ls * r.ls) / 2.0).sqrt().max(v_s);
        push_ramp(&mut plan, &mut t, &mut s, v_s, vp, a, Phase::Accel);
        // The descent from vp to LS covers exactly what is left, by the choice of vp.
        push_ramp(&mut plan, &mut t, &mut s, vp, r.ls, a, Phase::Decel);
    }
    plan
}

/// Plan of a jog: ramp from `v_start` to HS, then cruise for ever.
pub fn plan_jog(t0_ns: i64, v_start: f64, r: &Ramp) -> Vec<Piece> {
    let mut plan = Vec::new();
    let (mut t, mut s) = (t0_ns, 0.0);
    let v_s = if r.acc.is_finite() { v_start.max(r.ls) } else { r.hs };
    let (rate, phase) = if v_s <= r.hs { (r.acc, Phase::Accel) } else { (r.dec, Phase::Decel) };
    push_ramp(&mut plan, &mut t, &mut s, v_s, r.hs, rate, phase);
    plan.push(Piece { t0_ns: t, dur_ns: FOREVER_NS, x0: s, v0: r.hs, a: 0.0, phase: Phase::Constant });
    plan
}

/// Plan of a decelerated stop from speed `v` (STOP): ramp down to LS at the DEC rate; the caller
/// then finishes the pulse in progress with [`finish_pulse`].
pub fn plan_stop(t0_ns: i64, v: f64, r: &Ramp) -> Vec<Piece> {
    let mut plan = Vec::new();
    let (mut t, mut s) = (t0_ns, 0.0);
    if r.dec.is_finite() && v > r.ls {
        push_ramp(&mut plan, &mut t, &mut s, v, r.ls, r.dec, Phase::Decel);
    }
    plan
}

/// Appends a crawl at `speed` (LS) in the distance coordinate so the plan ends on a whole pulse
/// of the axis (`start` + `dir`·`scale`·s integer).
pub fn finish_pulse(plan: &mut Vec<Piece>, t0_ns: i64, start: f64, dir: f64, scale: f64, speed: f64) {
    let (t, s) = plan.last().map_or((t0_ns, 0.0), |p| (p.end_ns(), p.end_pos()));
    let x = start + dir * scale * s;
    let target = if dir > 0.0 { (x - 1e-9).ceil() } else { (x + 1e-9).floor() };
    let extra = ((target - x) * dir).max(0.0) / scale.max(1e-12);
    if extra > 1e-9 && speed > 0.0 {
        plan.push(Piece { t0_ns: t, dur_ns: secs_to_ns(extra / speed), x0: s, v0: speed, a: 0.0, phase: Phase::Decel });
    }
}

/// Maps a distance plan onto an axis: `x = start + dir·scale·s`.
pub fn map_plan(plan: &[Piece], start: f64, dir: f64, scale: f64) -> Vec<Piece> {
    plan.iter()
        .map(|p| Piece {
            t0_ns: p.t0_ns,
            dur_ns: p.dur_ns,
            x0: start + dir * scale * p.x0,
            v0: dir * scale * p.v0,
            a: dir * scale * p.a,
            phase: p.phase,
        })
        .collect()
}

/// Total duration of a plan (ns), 0 for an empty one.
pub fn plan_duration_ns(plan: &[Piece]) -> i64 {
    match (plan.first(), plan.last()) {
        (Some(f), Some(l)) => l.end_ns() - f.t0_ns,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench_ramp() -> Ramp {
        Ramp::from_settings(1500, 10, 300, 300, true)
    }

    #[test]
    fn bench_check_10000_pulses_takes_6_965_s() {
        // notes §5: L = 10 000, HS 1500, LS 10, ACC = DEC = 300 ms → 226.5-pulse ramps, T = 6.965 s.
        let r = bench_ramp();
        assert!((r.stop_distance(1500.0) - 226.5).abs() < 0.1);
        let plan = plan_move(0, 10_000.0, 0.0, &r);
        let t = plan_duration_ns(&plan) as f64 / NS;
        assert!((t - 6.965).abs() < 0.0005, "T = {t}");
        assert_eq!(plan.iter().map(|p| p.phase).collect::<Vec<_>>(), vec![Phase::Accel, Phase::Constant, Phase::Decel]);
        let last = plan.last().unwrap();
        assert!((last.end_pos() - 10_000.0).abs() < 1e-3);
        assert!((last.end_vel() - 10.0).abs() < 1e-6);
        // Continuity between pieces.
        for w in plan.windows(2) {
            assert!((w[0].end_pos() - w[1].x0).abs() < 1e-3);
            assert!((w[0].end_vel() - w[1].v0).abs() < 1e-3);
            assert_eq!(w[0].end_ns(), w[1].t0_ns);
        }
    }

    #[test]
    fn short_move_is_a_triangle_with_acc_for_both_ramps() {
        // EDEC=1 with a long DEC: the triangle still uses ACC for both ramps (App. A.2).
        let r = Ramp::from_settings(1500, 10, 300, 900, true);
        let plan = plan_move(0, 200.0, 0.0, &r);
        assert_eq!(plan.len(), 2);
        let a = r.acc;
        let vp = (10.0f64 * 10.0 + a * 200.0).sqrt();
        assert!((plan[0].end_vel() - vp).abs() < 1e-3);
        let t = plan_duration_ns(&plan) as f64 / NS;
        assert!((t - 2.0 * (vp - 10.0) / a).abs() < 1e-6, "T = {t}");
        assert!((plan[1].end_pos() - 200.0).abs() < 1e-3);
    }

    #[test]
    fn edec_zero_decelerates_with_acc() {
        let r = Ramp::from_settings(1500, 10, 300, 900, false);
        assert_eq!(r.acc, r.dec);
        let r = Ramp::from_settings(1500, 10, 300, 900, true);
        assert!((r.acc / r.dec - 3.0).abs() < 1e-9);
    }

    #[test]
    fn acc_is_clamped_not_refused() {
        let r = Ramp::from_settings(1500, 10, 10_000_000, 300, true);
        assert!((r.acc - 1490.0 / 29.8).abs() < 1e-6);
        let r = Ramp::from_settings(1500, 10, 0, 0, true);
        assert!((r.acc - 1490.0 / 0.001).abs() < 1e-3);
    }

    #[test]
    fn jog_cruises_for_ever() {
        let plan = plan_jog(0, 0.0, &bench_ramp());
        let cruise = plan.last().unwrap();
        assert_eq!(cruise.phase, Phase::Constant);
        assert!(cruise.pos_at(100 * 1_000_000_000) > 100.0 * 1400.0);
    }

    #[test]
    fn stop_ramps_down_then_finishes_the_pulse() {
        let r = bench_ramp();
        let mut plan = plan_stop(0, 1500.0, &r);
        finish_pulse(&mut plan, 0, 0.3, 1.0, 1.0, r.ls);
        let end = plan.last().unwrap().end_pos() + 0.3;
        assert!((end - end.round()).abs() < 1e-6, "{end}");
        assert!((plan[0].end_pos() - 226.5).abs() < 0.1);
    }

    #[test]
    fn crossing_times() {
        let p = Piece { t0_ns: 0, dur_ns: 2_000_000_000, x0: 0.0, v0: 10.0, a: 10.0, phase: Phase::Accel };
        // x = 10τ + 5τ² = 15 at τ = 1.
        assert_eq!(p.time_to_reach(15.0), Some(1_000_000_000));
        assert_eq!(p.time_to_reach(1000.0), None);
        let m = map_plan(&[p], 100.0, -1.0, 0.5);
        assert_eq!(m[0].time_to_reach(100.0 - 7.5), Some(1_000_000_000));
        let rest = Piece::rest(0, 3.0);
        assert_eq!(rest.time_to_reach(4.0), None);
    }
}
