//! The encoder of an axis checked against its pulse counter (notes/arcus-protocol.md §7: an
//! AMT112Q on the motor shaft, read with `E[axis]` right after `P[axis]`).
//!
//! The controller counts the pulses it sends; the encoder counts what the motor did. The two
//! agree (through the counts per pulse) until the motor loses steps: a stall, a jam, a missed
//! microstep. The two queries are a round trip apart (at 1500 pps and 9600 baud that is already
//! ~19 pulses), so an encoder reading is judged against the pulse counter *bracket* around it:
//! the pulse poll before it and the next one. A motor that kept up was somewhere in between (the
//! motion is monotonic between two polls of a fly line); one outside by more than the threshold
//! lost steps. The verdict on a reading therefore comes with the next pulse poll.
//!
//! The counters have their own zeros (homing zeroes the pulse counter, `E=` the encoder), so the
//! check starts from an origin taken with the axis at rest ([`EncoderCheck::set_origin`]). A count
//! is the last edge passed (4× quadrature), so one reading at rest only says that the encoder's
//! offset lies within one count; each later rest on another pulse narrows that interval
//! ([`EncoderCheck::rest`]), and the frame uses its middle.
//!
//! The same frame turns readings into positions for the position model ([`EncoderFrame`]) and a
//! position into the count the compare output (`SYN`) is armed at.
use super::plan::Axis;

/// How encoder counts map to pulse-counter steps: `counts = counts_per_step · steps + origin`
/// (continuous counts; a reading `n` means the motor is within `[n, n + 1)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderFrame {
    /// Encoder counts per pulse.
    pub counts_per_step: f64,
    /// Continuous count where the pulse counter reads 0.
    pub origin_counts: f64,
}

impl EncoderFrame {
    /// The position (steps) of a reading: the middle of the count.
    pub fn steps_of_reading(&self, counts: i64) -> f64 {
        (counts as f64 + 0.5 - self.origin_counts) / self.counts_per_step
    }

    /// The continuous count at `steps`.
    pub fn counts_at(&self, steps: f64) -> f64 {
        self.counts_per_step * steps + self.origin_counts
    }

    /// The count the encoder reads at `steps`.
    pub fn reading_at(&self, steps: f64) -> i64 {
        self.counts_at(steps).floor() as i64
    }

    /// Where (steps) the encoder starts reading `counts` when moving in `direction` (+1/-1): at
    /// the count's lower edge going up, at its upper edge going down.
    pub fn steps_entering(&self, counts: i64, direction: f64) -> f64 {
        let edge = if direction >= 0.0 { counts as f64 } else { counts as f64 + 1.0 };
        (edge - self.origin_counts) / self.counts_per_step
    }

    /// Variance (steps²) of a reading's quantisation: a count is 1 / counts_per_step steps wide.
    pub fn quant_var_steps2(&self) -> f64 {
        1.0 / (12.0 * self.counts_per_step * self.counts_per_step)
    }
}

/// Gap allowed between the pulse counter and the encoder (in pulses) when the plan does not say.
pub const DEFAULT_MAX_SLIP_STEPS: f64 = 16.0;

/// The compare condition the engine arms `SYN` with: 1, "encoder equals P", as the manual's
/// Table 6.8 has it (its standalone example in §9.1 calls 2 "equal"; notes/arcus-protocol.md §4
/// flags the conflict, and the simulator follows Table 6.8). Equality fires on a count the motor
/// passes whichever way it flies.
pub const SYNC_CONDITION_EQUAL: i64 = 1;
/// Width of the compare output's pulse (ms, condition 1 only): a clean edge for a DAQ's start
/// trigger, over long before the next line re-arms.
pub const SYNC_PULSE_MS: i64 = 1;

/// The encoder and the pulse counter of an axis disagree beyond the threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "axis {}: the encoder reads {encoder_steps:.1} steps ({encoder_counts} counts) where the pulse counter was between \
     {pulse_before_steps} and {pulse_after_steps} steps: {slip_steps:.1} steps lost (more than {max_slip_steps})",
    axis.letter()
)]
pub struct SlipError {
    /// The axis.
    pub axis: Axis,
    /// The pulse counter just before the encoder reading (steps).
    pub pulse_before_steps: i64,
    /// The pulse counter at the next poll (steps).
    pub pulse_after_steps: i64,
    /// The encoder reading in steps (counts / counts per step, from the origin).
    pub encoder_steps: f64,
    /// The raw encoder reading.
    pub encoder_counts: i64,
    /// How far the encoder is outside the bracket (signed: positive when the motor is short of
    /// the pulses in the direction of travel, i.e. behind when moving up).
    pub slip_steps: f64,
    /// The threshold.
    pub max_slip_steps: f64,
}

/// Compares the pulse counter and the encoder of one axis, poll after poll.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderCheck {
    axis: Axis,
    counts_per_step: f64,
    max_slip_steps: f64,
    // The interval [lo, hi) the continuous count at pulse 0 lies in (from the rests seen).
    origin_counts: Option<(f64, f64)>,
    // The last pulse poll and the encoder reading taken right after it, awaiting the next poll.
    pending: Option<(i64, i64)>,
    worst_slip_steps: f64,
    checks: u64,
}

impl EncoderCheck {
    /// A check of `axis` with `counts_per_step` encoder counts per pulse (> 0) and a gap allowed
    /// of `max_slip_steps` pulses.
    pub fn new(axis: Axis, counts_per_step: f64, max_slip_steps: f64) -> Self {
        Self { axis, counts_per_step, max_slip_steps, origin_counts: None, pending: None, worst_slip_steps: 0.0, checks: 0 }
    }

    /// Encoder counts per pulse.
    pub fn counts_per_step(&self) -> f64 {
        self.counts_per_step
    }

    /// Ties the two counters together: the axis at rest at `pulse_steps`, the encoder at `counts`.
    pub fn set_origin(&mut self, pulse_steps: i64, counts: i64) {
        let lo = counts as f64 - pulse_steps as f64 * self.counts_per_step;
        self.origin_counts = Some((lo, lo + 1.0));
        self.pending = None;
    }

    /// The axis at rest again, at `pulse_steps` with the encoder at `counts`: narrows the
    /// origin. A rest that does not fit the interval (steps lost below the threshold) starts a
    /// new one.
    pub fn rest(&mut self, pulse_steps: i64, counts: i64) {
        let lo = counts as f64 - pulse_steps as f64 * self.counts_per_step;
        self.origin_counts = Some(match self.origin_counts {
            Some((a, b)) if lo.max(a) < (lo + 1.0).min(b) => (lo.max(a), (lo + 1.0).min(b)),
            _ => (lo, lo + 1.0),
        });
    }

    /// The frame of the readings (None before the origin is set).
    pub fn frame(&self) -> Option<EncoderFrame> {
        self.origin_counts.map(|(lo, hi)| EncoderFrame { counts_per_step: self.counts_per_step, origin_counts: 0.5 * (lo + hi) })
    }

    /// An encoder reading in pulse-counter steps (None before the origin is set).
    pub fn encoder_steps(&self, counts: i64) -> Option<f64> {
        self.frame().map(|f| f.steps_of_reading(counts))
    }

    /// The last encoder reading, taken right after the pulse poll it is paired with.
    pub fn last_reading(&self) -> Option<(i64, i64)> {
        self.pending
    }

    /// The largest |slip| seen so far (steps).
    pub fn worst_slip_steps(&self) -> f64 {
        self.worst_slip_steps
    }

    /// How many encoder readings were judged.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// A pulse poll: judges the encoder reading taken after the previous one against the bracket
    /// they make. Returns the slip of that reading (None when there was none to judge).
    ///
    /// # Errors
    /// [`SlipError`] when the encoder was outside the bracket by more than the threshold.
    pub fn pulse(&mut self, pulse_steps: i64) -> Result<Option<f64>, SlipError> {
        let Some((before, counts)) = self.pending.take() else {
            return Ok(None);
        };
        let Some(encoder_steps) = self.encoder_steps(counts) else {
            return Ok(None);
        };
        let (lo, hi) = (before.min(pulse_steps) as f64, before.max(pulse_steps) as f64);
        let outside = if encoder_steps < lo {
            lo - encoder_steps
        } else if encoder_steps > hi {
            hi - encoder_steps
        } else {
            0.0
        };
        // Signed in the direction of travel: positive = the motor behind its pulses.
        let slip_steps = if pulse_steps < before { -outside } else { outside };
        self.checks += 1;
        self.worst_slip_steps = self.worst_slip_steps.max(slip_steps.abs());
        if slip_steps.abs() > self.max_slip_steps {
            return Err(SlipError {
                axis: self.axis,
                pulse_before_steps: before,
                pulse_after_steps: pulse_steps,
                encoder_steps,
                encoder_counts: counts,
                slip_steps,
                max_slip_steps: self.max_slip_steps,
            });
        }
        Ok(Some(slip_steps))
    }

    /// An encoder reading taken right after the pulse poll `pulse_before_steps`; judged at the
    /// next [`EncoderCheck::pulse`].
    pub fn encoder(&mut self, pulse_before_steps: i64, counts: i64) {
        self.pending = Some((pulse_before_steps, counts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_inside_the_pulse_bracket_pass_and_lost_steps_fail_at_the_next_poll() {
        // 2.56 counts per step; the encoder zeroed where the pulse counter read 100.
        let mut c = EncoderCheck::new(Axis::X, 2.56, 10.0);
        assert_eq!(c.pulse(0).unwrap(), None, "nothing to judge yet");
        c.set_origin(100, 0);
        assert_eq!(c.encoder_steps(256), Some(200.0));
        // PX 100, EX at 115 steps (the motor moved on during the round trip), next PX 130.
        c.encoder(100, (15.0_f64 * 2.56) as i64);
        assert_eq!(c.pulse(130).unwrap(), Some(0.0));
        // The motor stays at 130 while the pulses go on: 130 → 160 → 190.
        c.encoder(130, 77);
        assert!(c.pulse(160).unwrap().unwrap().abs() < 0.5);
        c.encoder(160, 77);
        let e = c.pulse(190).unwrap_err();
        assert_eq!((e.axis, e.pulse_before_steps, e.pulse_after_steps), (Axis::X, 160, 190));
        assert!((e.slip_steps - (160.0 - 100.0 - 77.0 / 2.56)).abs() < 1e-9, "{e}");
        assert_eq!(c.frame().map(|f| f.reading_at(100.0)), Some(0));
        assert!(e.to_string().starts_with("axis X: the encoder reads"), "{e}");
        assert_eq!(c.checks(), 3);
    }

    #[test]
    fn rests_on_other_pulses_narrow_the_origin_to_a_fraction_of_a_count() {
        // The encoder's true origin: count 0.3 at pulse 0 (2.56 counts per step).
        let cps = 2.56;
        let reading = |p: i64| (cps * p as f64 + 0.3).floor() as i64;
        let mut c = EncoderCheck::new(Axis::X, cps, 16.0);
        c.set_origin(0, reading(0));
        assert_eq!(c.frame().unwrap().origin_counts, 0.5);
        for p in [7, 13, 101, 250, 1003, 4242, 3, 12] {
            c.rest(p, reading(p));
        }
        let f = c.frame().unwrap();
        assert!((f.origin_counts - 0.3).abs() < 0.05, "{f:?}");
        // A reading's position is then the middle of its count, and entering a count is exact.
        assert!((f.steps_of_reading(reading(500)) - 500.0).abs() <= 0.5 / cps + 0.05);
        assert!((f.steps_entering(f.reading_at(500.0), 1.0) - 500.0).abs() <= 1.0 / cps);
        // A rest that contradicts the interval (steps lost) starts over from it.
        c.rest(100, reading(100) - 40);
        assert!((c.frame().unwrap().origin_counts - (0.5 - 40.0 + reading(100) as f64 - 256.0)).abs() < 1e-9);
    }

    #[test]
    fn moving_down_a_motor_behind_is_a_positive_slip_too() {
        let mut c = EncoderCheck::new(Axis::Y, 4.0, 2.0);
        c.set_origin(0, 0);
        c.encoder(-100, -400);
        assert_eq!(c.pulse(-110).unwrap(), Some(0.0));
        c.encoder(-110, -380);
        let e = c.pulse(-120).unwrap_err();
        assert!((e.slip_steps - 15.0).abs() < 1e-9, "{e}");
        assert!((c.worst_slip_steps() - 15.0).abs() < 1e-9);
    }
}
