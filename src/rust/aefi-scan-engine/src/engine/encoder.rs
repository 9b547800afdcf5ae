//! The encoder of an axis checked against its pulse counter (notes/arcus-protocol.md §7: an
//! AMT112Q on the motor shaft, read with `E[axis]` beside `P[axis]`).
//!
//! The controller counts the pulses it sends; the encoder counts what the motor did. The two
//! agree (through the counts per pulse) until the motor loses steps: a stall, a jam, a missed
//! microstep. [`EncoderCheck`] compares them at every poll: the pulse counter is carried to the
//! encoder reading's instant with the speed seen between the last two polls (the two queries are
//! one round trip apart, and at 1500 pps that is already ~19 pulses at 9600 baud), and a gap beyond
//! the threshold is a [`SlipError`] naming the axis and both positions.
use crate::arcus::protocol::Axis;

/// Gap allowed between the pulse counter and the encoder (in pulses) when the plan does not say.
pub const DEFAULT_MAX_SLIP_STEPS: f64 = 16.0;

/// One stamped reading: where (steps or counts) and when (midpoint of its round trip, ns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamped {
    /// Pulse-counter steps or encoder counts.
    pub value: i64,
    /// Middle of the query's round trip (ns).
    pub t_mid_ns: i64,
}

/// The encoder and the pulse counter of an axis disagree beyond the threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "axis {}: the encoder reads {encoder_steps:.1} steps ({encoder_counts} counts) where the pulse counter is at {pulse_steps:.1} \
     steps: {slip_steps:.1} steps lost (more than {max_slip_steps})",
    axis.letter()
)]
pub struct SlipError {
    /// The axis.
    pub axis: Axis,
    /// The pulse counter, carried to the encoder reading's instant (steps).
    pub pulse_steps: f64,
    /// The encoder reading in steps (counts / counts per step).
    pub encoder_steps: f64,
    /// The raw encoder reading.
    pub encoder_counts: i64,
    /// `pulse_steps − encoder_steps` (signed: positive when the motor is behind its pulses).
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
    // The encoder count where the pulse counter reads 0 (the two counters are zeroed apart).
    origin: Option<f64>,
    last_pulse: Option<Stamped>,
    worst_slip_steps: f64,
    checks: u64,
}

impl EncoderCheck {
    /// A check of `axis` with `counts_per_step` encoder counts per pulse (> 0) and a gap allowed
    /// of `max_slip_steps` pulses.
    pub fn new(axis: Axis, counts_per_step: f64, max_slip_steps: f64) -> Self {
        Self { axis, counts_per_step, max_slip_steps, origin: None, last_pulse: None, worst_slip_steps: 0.0, checks: 0 }
    }

    /// Encoder counts per pulse.
    pub fn counts_per_step(&self) -> f64 {
        self.counts_per_step
    }

    /// An encoder reading in pulse-counter steps (with the counters' origin of the first check).
    pub fn encoder_steps(&self, counts: i64) -> f64 {
        (counts as f64 - self.origin.unwrap_or(0.0)) / self.counts_per_step
    }

    /// The largest |slip| seen so far (steps).
    pub fn worst_slip_steps(&self) -> f64 {
        self.worst_slip_steps
    }

    /// How many pairs were compared.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Records a pulse-counter poll (the speed estimate for the next comparison).
    pub fn pulse(&mut self, p: Stamped) {
        self.last_pulse = Some(p);
    }

    /// Compares an encoder reading with the pulse polls. The first reading fixes the origin
    /// (the counters are set apart: homing, `P=`, `E=`), so the check measures steps lost from
    /// then on. Returns the signed slip (steps).
    ///
    /// # Errors
    /// [`SlipError`] when |slip| exceeds the threshold.
    pub fn encoder(&mut self, before: Stamped, counts: Stamped) -> Result<f64, SlipError> {
        let speed_spns = match self.last_pulse {
            Some(prev) if before.t_mid_ns > prev.t_mid_ns => (before.value - prev.value) as f64 / (before.t_mid_ns - prev.t_mid_ns) as f64,
            _ => 0.0,
        };
        self.last_pulse = Some(before);
        let pulse_steps = before.value as f64 + speed_spns * (counts.t_mid_ns - before.t_mid_ns) as f64;
        if self.origin.is_none() {
            self.origin = Some(counts.value as f64 - pulse_steps * self.counts_per_step);
        }
        let encoder_steps = self.encoder_steps(counts.value);
        let slip_steps = pulse_steps - encoder_steps;
        self.checks += 1;
        self.worst_slip_steps = self.worst_slip_steps.max(slip_steps.abs());
        if slip_steps.abs() > self.max_slip_steps {
            return Err(SlipError {
                axis: self.axis,
                pulse_steps,
                encoder_steps,
                encoder_counts: counts.value,
                slip_steps,
                max_slip_steps: self.max_slip_steps,
            });
        }
        Ok(slip_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: i64, t_ms: i64) -> Stamped {
        Stamped { value, t_mid_ns: t_ms * 1_000_000 }
    }

    #[test]
    fn pulses_carried_to_the_encoder_instant_match_and_a_lost_step_run_fails() {
        // 2.56 counts per step, 1500 pps: 1.5 steps per ms.
        let mut c = EncoderCheck::new(Axis::X, 2.56, 10.0);
        c.pulse(at(0, 0));
        // PX at 10 ms = 15; EX 12 ms later, the motor at 15 + 18 = 33 steps = 84.48 counts.
        assert!(c.encoder(at(15, 10), at(84, 22)).unwrap().abs() < 0.5);
        assert!(c.encoder(at(45, 30), at(161, 42)).unwrap().abs() < 0.5);
        // Without carrying the pulses to the encoder's instant the gap would be 18 steps: still fine.
        assert!(c.worst_slip_steps() < 0.5);
        // The motor stays at 63 steps while the pulses go on.
        assert!(c.encoder(at(75, 50), at(161, 62)).is_err());
        let e = c.encoder(at(120, 80), at(161, 92)).unwrap_err();
        assert_eq!(e.axis, Axis::X);
        assert!((e.slip_steps - (138.0 - c.encoder_steps(161))).abs() < 1e-6, "{e}");
        assert!((c.encoder_steps(161) - 161.48 / 2.56).abs() < 1e-9, "origin from the first reading");
        assert!(e.to_string().starts_with("axis X: the encoder reads"), "{e}");
        assert_eq!(c.checks(), 4);
    }

    #[test]
    fn the_first_reading_fixes_the_origin() {
        // Encoder zeroed at a pulse position of 1000 (homed apart).
        let mut c = EncoderCheck::new(Axis::Y, 4.0, 2.0);
        assert!(c.encoder(at(1000, 0), at(0, 1)).unwrap().abs() < 1e-9);
        assert!((c.encoder_steps(400) - 1100.0).abs() < 1e-9);
        // 10 steps per ms, read 1 ms after PX: 1110 steps = 440 counts.
        assert!(c.encoder(at(1100, 10), at(440, 11)).unwrap().abs() < 1e-9);
        // Stopped at 1110 (the next PX says so), the encoder 5 steps short.
        assert!(c.encoder(at(1110, 20), at(420, 21)).is_err(), "5 steps behind");
    }
}
