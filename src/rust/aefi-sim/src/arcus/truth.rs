//! Ground truth of the simulated motion: per axis, the commanded trajectory as constant-
//! acceleration pieces, the counter offsets (homing, `P=`), encoder offsets and stalls.
//!
//! The log is complete: from it alone, in this process or another (JSON, `--truth-log`), the
//! true position of every axis at any instant is computed the same way:
//! `commanded(t) = x0 + v0·τ + a·τ²/2` on the piece holding `t`;
//! `lag(t) = Σ over stalls (s, e) with s ≤ t of commanded(min(t, e)) − commanded(s)`;
//! `true(t) = commanded(t) − lag(t) − offset(t)`, `offset(t)` the last counter offset set at or
//! before `t` (0 before any).
use serde::{Deserialize, Serialize};

use super::profile::{Phase, Piece, FOREVER_NS};
use aefi_scan_engine::arcus::protocol::Axis;

/// The motion log of one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisTruth {
    /// Contiguous pieces of commanded motion (pulses, power-up counter frame), sorted by time.
    pub pieces: Vec<Piece>,
    /// `(t_ns, offset)`: from `t_ns` on, counter = commanded − offset.
    pub offsets: Vec<(i64, f64)>,
    /// `(t_ns, offset)`: from `t_ns` on, encoder = ratio·physical − offset.
    pub encoder_offsets: Vec<(i64, f64)>,
    /// `(start_ns, end_ns)` of stalls (`end_ns` = [`FOREVER_NS`] while stalled).
    pub stalls: Vec<(i64, i64)>,
}

fn step_value(list: &[(i64, f64)], t: i64) -> f64 {
    let i = list.partition_point(|(ti, _)| *ti <= t);
    if i == 0 {
        0.0
    } else {
        list[i - 1].1
    }
}

fn set_step(list: &mut Vec<(i64, f64)>, t: i64, v: f64) {
    list.retain(|(ti, _)| *ti < t);
    list.push((t, v));
}

impl AxisTruth {
    /// At rest at 0 from `t0_ns`.
    pub fn new(t0_ns: i64) -> AxisTruth {
        AxisTruth { pieces: vec![Piece::rest(t0_ns, 0.0)], offsets: Vec::new(), encoder_offsets: Vec::new(), stalls: Vec::new() }
    }

    fn piece(&self, t: i64) -> Option<&Piece> {
        let i = self.pieces.partition_point(|p| p.t0_ns <= t);
        self.pieces.get(i.saturating_sub(1))
    }

    /// Commanded position (pulses, power-up frame).
    pub fn commanded(&self, t: i64) -> f64 {
        self.piece(t).map_or(0.0, |p| p.pos_at(t))
    }

    /// Commanded velocity (pulses/s).
    pub fn velocity(&self, t: i64) -> f64 {
        self.piece(t).map_or(0.0, |p| if t < p.end_ns() { p.vel_at(t) } else { 0.0 })
    }

    /// Motion phase.
    pub fn phase(&self, t: i64) -> Phase {
        self.piece(t).map_or(Phase::Rest, |p| p.phase)
    }

    /// Counter offset.
    pub fn offset(&self, t: i64) -> f64 {
        step_value(&self.offsets, t)
    }

    /// Encoder offset.
    pub fn encoder_offset(&self, t: i64) -> f64 {
        step_value(&self.encoder_offsets, t)
    }

    /// Sets the counter offset from `t` on (drops later ones).
    pub fn set_offset(&mut self, t: i64, offset: f64) {
        set_step(&mut self.offsets, t, offset);
    }

    /// Sets the encoder offset from `t` on.
    pub fn set_encoder_offset(&mut self, t: i64, offset: f64) {
        set_step(&mut self.encoder_offsets, t, offset);
    }

    /// Pulses counted but not travelled because of stalls, at `t`.
    pub fn lag(&self, t: i64) -> f64 {
        self.stalls.iter().filter(|(s, _)| *s <= t).map(|(s, e)| self.commanded(t.min(*e)) - self.commanded(*s)).sum()
    }

    /// Where the motor really is (power-up frame).
    pub fn physical(&self, t: i64) -> f64 {
        self.commanded(t) - self.lag(t)
    }

    /// Where the motor really is, in the counter's frame at `t`.
    pub fn true_position(&self, t: i64) -> f64 {
        self.physical(t) - self.offset(t)
    }

    /// Whether a stall is in progress at `t`.
    pub fn is_stalled(&self, t: i64) -> bool {
        self.stalls.iter().any(|(s, e)| *s <= t && t < *e)
    }

    /// Starts a stall at `t` (no-op if one is in progress).
    pub fn stall(&mut self, t: i64) {
        if !self.is_stalled(t) {
            self.stalls.push((t, FOREVER_NS));
        }
    }

    /// Ends the stall in progress at `t`.
    pub fn unstall(&mut self, t: i64) {
        for s in &mut self.stalls {
            if s.0 <= t && t < s.1 {
                s.1 = t;
            }
        }
    }

    /// First instant ≥ `from_t` at which the physical position reaches `x` (lag taken as of
    /// `from_t`).
    pub fn first_crossing(&self, x: f64, from_t: i64) -> Option<i64> {
        let x_cmd = x + self.lag(from_t);
        let start = self.pieces.partition_point(|p| p.t0_ns <= from_t).saturating_sub(1);
        self.pieces[start..].iter().filter_map(|p| p.time_to_reach(x_cmd)).find(|th| *th >= from_t)
    }

    /// The running plan from `t` on (the piece holding `t` re-based at `t`), without the final rest.
    pub fn plan_after(&self, t: i64) -> Vec<Piece> {
        let start = self.pieces.partition_point(|p| p.t0_ns <= t).saturating_sub(1);
        let mut out = Vec::new();
        for (i, p) in self.pieces[start..].iter().enumerate() {
            if p.phase == Phase::Rest {
                break;
            }
            if i == 0 {
                let end = p.end_ns();
                out.push(Piece { t0_ns: t, dur_ns: end.saturating_sub(t), x0: p.pos_at(t), v0: p.vel_at(t), ..*p });
            } else {
                out.push(*p);
            }
        }
        out
    }

    /// Replaces everything after `t` by `plan` (pieces from `t` on, commanded frame). An empty
    /// plan is an immediate stop on the whole pulse already emitted; a zero-length rest piece
    /// at the end gives the exact resting position. Returns when motion ends
    /// ([`FOREVER_NS`]-ish for an open-ended plan).
    pub fn install(&mut self, t: i64, plan: Vec<Piece>) -> i64 {
        let (x_now, v_now) = (self.commanded(t), self.velocity(t));
        let keep = self.pieces.partition_point(|p| p.t0_ns < t);
        self.pieces.truncate(keep);
        if let Some(last) = self.pieces.last_mut() {
            last.dur_ns = t - last.t0_ns;
        }
        self.offsets.retain(|(ti, _)| *ti <= t);
        self.encoder_offsets.retain(|(ti, _)| *ti <= t);
        let rest_at = |x: f64| if (x - x.round()).abs() < 1e-3 { x.round() } else { x };
        let moving: Vec<Piece> = plan.iter().copied().filter(|p| p.dur_ns > 0 && p.phase != Phase::Rest).collect();
        if moving.is_empty() {
            let x = match plan.last() {
                Some(p) if p.phase == Phase::Rest => p.x0,
                _ => super::whole_pulses(x_now, v_now) as f64,
            };
            self.pieces.push(Piece::rest(t, rest_at(x)));
            return t;
        }
        let last = *moving.last().unwrap_or(&moving[0]);
        self.pieces.extend(moving);
        if last.dur_ns >= FOREVER_NS / 2 {
            return FOREVER_NS;
        }
        let end = last.end_ns();
        let x = match plan.last() {
            Some(p) if p.phase == Phase::Rest => p.x0,
            _ => last.end_pos(),
        };
        self.pieces.push(Piece::rest(end, rest_at(x)));
        end
    }
}

/// One firing of a compare output (`SYN`): the instant the true encoder count first met the
/// condition after the output was armed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyncEvent {
    /// The axis' letter.
    pub axis: char,
    /// When the output was armed (`SYN[axis]O` or a register set while on).
    pub armed_ns: i64,
    /// When it fired.
    pub t_ns: i64,
    /// The compare position (encoder counts).
    pub position_counts: i64,
    /// The condition (1 equal, 2 below, 3 above).
    pub condition: i64,
}

/// The motion log of every axis, as written to `--truth-log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthLog {
    /// `mono_ns` of the simulator's power-up.
    pub t_start_ns: i64,
    /// X, Y, Z, U.
    pub axes: Vec<AxisTruth>,
    /// Encoder counts per pulse of X, Y, Z, U (empty in logs written before the encoder).
    #[serde(default)]
    pub encoder_counts_per_step: Vec<f64>,
    /// Every firing of the compare outputs, in order; the last one of an output still armed is
    /// the instant its condition is met on the motion planned so far (later than the log when
    /// the motion has not got there yet).
    #[serde(default)]
    pub sync_events: Vec<SyncEvent>,
}

impl TruthLog {
    /// The true encoder count of `axis` at `t_ns` (continuous: the reading is its floor); NaN
    /// when the log does not know the encoder.
    pub fn true_encoder_counts(&self, axis: Axis, t_ns: i64) -> f64 {
        match (self.axes.get(axis.index()), self.encoder_counts_per_step.get(axis.index())) {
            (Some(a), Some(ratio)) => ratio * a.physical(t_ns) - a.encoder_offset(t_ns),
            _ => f64::NAN,
        }
    }

    /// True position of `axis` at `t_ns` (counter frame at `t_ns`), see the module doc.
    pub fn true_position_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        self.axes.get(axis.index()).map_or(f64::NAN, |a| a.true_position(t_ns))
    }

    /// The log as JSON.
    ///
    /// # Errors
    /// Serialisation errors (none expected for finite values).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Reads a log written by [`TruthLog::to_json`].
    ///
    /// # Errors
    /// Malformed JSON.
    pub fn from_json(text: &str) -> Result<TruthLog, serde_json::Error> {
        let log: TruthLog = serde_json::from_str(text)?;
        log.check().map_err(<serde_json::Error as serde::de::Error>::custom)?;
        Ok(log)
    }

    /// A log read from outside is checked before use: a negative duration, a piece that does not
    /// follow the one before or a value that is not finite would make the position queries panic.
    fn check(&self) -> Result<(), String> {
        for (k, axis) in self.axes.iter().enumerate() {
            let mut t_prev = i64::MIN;
            for p in &axis.pieces {
                if p.dur_ns < 0 || p.t0_ns < t_prev || p.t0_ns.checked_add(p.dur_ns).is_none() {
                    return Err(format!("axis {k}: a piece at {} ns lasts {} ns or starts before the one before", p.t0_ns, p.dur_ns));
                }
                if !(p.x0.is_finite() && p.v0.is_finite() && p.a.is_finite()) {
                    return Err(format!("axis {k}: a piece at {} ns has a value that is not finite", p.t0_ns));
                }
                t_prev = p.t0_ns;
            }
        }
        Ok(())
    }
}
