//! Position plausibility: a pulse-counter reading is checked against the previous one before the
//! position model may use it. Line noise that keeps a reply printable (a dropped or doubled digit)
//! still parses as a number; a reading that moved farther than the axis can at its highest speed
//! over the time between the two readings is such noise, never a position.
//!
//! The bound is physical: the previous reading was sampled by the controller at or after its
//! command was sent, this one at or before its reply arrived, so the axis moved for at most
//! `t_recv(now) - t_send(previous)`, at no more than the highest speed it was given (HS, the
//! pulse rate ceiling of every ramp), plus [`MARGIN_STEPS`] and [`SPEED_SLACK`] for rounding.
//! A reply carries no sequence number: after a timed-out query its late reply can be read as the
//! answer to the next one, so a reading may be older than its exchange by up to the link's
//! reply age ([`PositionGuard::set_reply_age_ns`]), which widens the time the axis had.
use super::model::Poll;
use super::plan::Axis;
use crate::arcus::limits::MAX_SPEED_PPS;

/// Steps a reading may move beyond the speed bound (counter rounding, one pulse in flight).
pub const MARGIN_STEPS: f64 = 4.0;
/// Relative slack on the speed bound (the controller's pulse clock against the host's clock).
pub const SPEED_SLACK: f64 = 0.1;

/// A reading farther from the previous one than the axis can move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Implausible {
    /// The axis read.
    pub axis: Axis,
    /// The last accepted reading (steps).
    pub previous_steps: i64,
    /// The refused reading (steps).
    pub steps: i64,
    /// Time the axis had to move between the two readings (ns).
    pub elapsed_ns: i64,
    /// The farthest it could have moved in that time, the link's reply age included (steps).
    pub max_move_steps: f64,
    /// How much older than its exchange a reading may be on this link (ns).
    pub reply_age_ns: i64,
    /// The speed bound used (pulses/s).
    pub max_speed_pps: f64,
}

impl std::fmt::Display for Implausible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "axis {}: position read {} steps, {} steps from the {} read {:.1} ms before, farther than the axis can \
             move at {} pulses/s in that time and the link's {:.0} ms reply age ({:.0} steps)",
            self.axis.letter(),
            self.steps,
            (self.steps - self.previous_steps).abs(),
            self.previous_steps,
            self.elapsed_ns as f64 * 1e-6,
            self.max_speed_pps,
            self.reply_age_ns as f64 * 1e-6,
            self.max_move_steps,
        )
    }
}

/// The last accepted reading of each axis and the highest speed each may run at.
#[derive(Debug, Clone)]
pub struct PositionGuard {
    last: [Option<(i64, i64)>; 4],
    max_speed_pps: [f64; 4],
    reply_age_ns: i64,
}

impl Default for PositionGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl PositionGuard {
    /// No reading yet; every axis bounded by the controller's fastest pulse rate until told.
    pub fn new() -> Self {
        Self { last: [None; 4], max_speed_pps: [MAX_SPEED_PPS as f64; 4], reply_age_ns: 0 }
    }

    fn index(axis: Axis) -> usize {
        Axis::ALL.iter().position(|a| *a == axis).unwrap_or(0)
    }

    /// The highest speed `axis` will be given (pulses/s): its HS for every move of the scan.
    pub fn set_max_speed(&mut self, axis: Axis, pps: f64) {
        if pps.is_finite() && pps > 0.0 {
            self.max_speed_pps[Self::index(axis)] = pps;
        }
    }

    /// How much older than its exchange a reading may be on this link (a late reply taken for
    /// the next query's): [`super::stage::Stage::max_reply_age_ns`].
    pub fn set_reply_age_ns(&mut self, ns: i64) {
        self.reply_age_ns = ns.max(0);
    }

    /// A known position at `t_ns` (the axis at rest when it was read), the reference of the next check.
    pub fn anchor(&mut self, axis: Axis, steps: i64, t_ns: i64) {
        self.last[Self::index(axis)] = Some((steps, t_ns));
    }

    /// Whether `poll` is a position `axis` can have reached since the last accepted reading.
    ///
    /// # Errors
    /// [`Implausible`] with the numbers of the refusal.
    pub fn check(&self, axis: Axis, poll: &Poll) -> Result<(), Implausible> {
        let i = Self::index(axis);
        let Some((previous_steps, t_prev_ns)) = self.last[i] else {
            return Ok(());
        };
        let elapsed_ns = (poll.t_recv_ns - t_prev_ns).max(0);
        let max_speed_pps = self.max_speed_pps[i];
        let reply_age_ns = self.reply_age_ns;
        let moving_ns = elapsed_ns.saturating_add(reply_age_ns) as f64;
        let max_move_steps = max_speed_pps * (1.0 + SPEED_SLACK) * moving_ns * 1e-9 + MARGIN_STEPS;
        if ((poll.steps - previous_steps).abs() as f64) <= max_move_steps {
            Ok(())
        } else {
            Err(Implausible { axis, previous_steps, steps: poll.steps, elapsed_ns, max_move_steps, max_speed_pps, reply_age_ns })
        }
    }

    /// Takes `poll` as the reference of the next check: sampled no earlier than its send stamp.
    pub fn accept(&mut self, axis: Axis, poll: &Poll) {
        self.last[Self::index(axis)] = Some((poll.steps, poll.t_send_ns));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(steps: i64, t_send_ns: i64, t_recv_ns: i64) -> Poll {
        Poll { steps, t_send_ns, t_recv_ns, bytes_out: 4, bytes_in: 6 }
    }

    #[test]
    fn a_reading_within_speed_times_time_passes_and_a_dropped_digit_does_not() {
        let mut g = PositionGuard::new();
        g.set_max_speed(Axis::X, 1500.0);
        g.anchor(Axis::X, 27_000, 0);
        // 10 ms at 1500 pps: 15 steps (16.5 with the slack, 20.5 with the margin)
        assert!(g.check(Axis::X, &poll(27_020, 9_000_000, 10_000_000)).is_ok());
        assert!(g.check(Axis::X, &poll(26_980, 9_000_000, 10_000_000)).is_ok());
        let far = g.check(Axis::X, &poll(27_021, 9_000_000, 10_000_000)).unwrap_err();
        assert_eq!((far.previous_steps, far.steps, far.elapsed_ns), (27_000, 27_021, 10_000_000));
        // "27523" read as "7523": line noise that parses
        g.accept(Axis::X, &poll(27_523, 10_000_000, 12_000_000));
        let e = g.check(Axis::X, &poll(7_523, 20_000_000, 22_000_000)).unwrap_err();
        let text = e.to_string();
        for needle in ["axis X", "7523 steps", "20000 steps from the 27523", "12.0 ms", "1500 pulses/s", "0 ms reply age"] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }

    #[test]
    fn a_link_whose_replies_may_be_late_widens_the_bound_by_their_age() {
        let mut g = PositionGuard::new();
        g.set_max_speed(Axis::X, 1500.0);
        g.anchor(Axis::X, 12_572, 0);
        // a late reply read for the next query: 99 steps in 6.7 ms is 66 ms of motion at 1500 pps
        let stale = poll(12_473, 5_000_000, 6_700_000);
        assert!(g.check(Axis::X, &stale).is_err());
        g.set_reply_age_ns(90_000_000);
        assert!(g.check(Axis::X, &stale).is_ok());
        // a lost digit is still far beyond it
        assert!(g.check(Axis::X, &poll(2_473, 5_000_000, 6_700_000)).unwrap_err().to_string().contains("90 ms reply age"));
    }

    #[test]
    fn without_a_reading_or_a_speed_the_bounds_are_the_controllers() {
        let g = PositionGuard::new();
        assert!(g.check(Axis::Y, &poll(i64::from(i32::MAX), 0, 1)).is_ok());
        let mut g = PositionGuard::new();
        g.anchor(Axis::Y, 0, 0);
        g.set_max_speed(Axis::Y, f64::NAN);
        // 6e6 pps for 1 ms: 6600 steps with the slack
        assert!(g.check(Axis::Y, &poll(6_600, 0, 1_000_000)).is_ok());
        assert!(g.check(Axis::Y, &poll(6_700, 0, 1_000_000)).is_err());
    }

    #[test]
    fn axes_are_checked_apart() {
        let mut g = PositionGuard::new();
        g.set_max_speed(Axis::X, 100.0);
        g.anchor(Axis::X, 0, 0);
        assert!(g.check(Axis::Y, &poll(1_000_000, 0, 1)).is_ok());
        assert!(g.check(Axis::X, &poll(1_000, 0, 1_000_000)).is_err());
    }
}
