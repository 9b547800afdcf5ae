//! A minimal in-memory [`Stage`] with analytic trapezoid motion, for engine tests and benches.
//!
//! It answers like a controller on a wire of a given byte time: a command takes effect when
//! its frame has "arrived" (send + bytes × byte time) and the reply comes back after its own
//! bytes, so polls carry the same timing structure as a real link. Positions are the exact
//! profile, reported rounded to the nearest step; [`FakeStage::truth`] gives the exact position
//! at any instant. Faults can be injected (a limit at a position, a link that stops answering).
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::detector::TruthSource;
use aefi_scan_engine::engine::model::{LinkTiming, Poll, Trapezoid};
use aefi_scan_engine::engine::pacer::sleep_until;
use aefi_scan_engine::engine::plan::{Axis, AxisSpeeds};
use aefi_scan_engine::engine::stage::{AxisMotion, Stage, StageError, StageErrorKind};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Clone, Copy)]
struct AxisState {
    rest_steps: f64,
    motion: Option<(Trapezoid, i64)>,
    hs_raw: f64,
    limit_at: Option<f64>,
    limit_hit: bool,
}

impl AxisState {
    fn position(&self, t_ns: i64) -> f64 {
        match self.motion {
            Some((p, t0)) => p.position_at((t_ns - t0) as f64 * 1e-9),
            None => self.rest_steps,
        }
    }

    /// Settles finished moves and limit hits up to `t_ns`.
    fn advance(&mut self, t_ns: i64) {
        if let Some((p, t0)) = self.motion {
            if let Some(lim) = self.limit_at {
                let dir = p.direction();
                if dir * (lim - p.start_steps) >= 0.0 && dir * (p.target_steps - lim) > 0.0 {
                    let t_hit = t0 + (p.time_at_distance((lim - p.start_steps).abs()) * 1e9) as i64;
                    if t_ns >= t_hit {
                        self.rest_steps = lim;
                        self.motion = None;
                        self.limit_hit = true;
                        return;
                    }
                }
            }
            if (t_ns - t0) as f64 * 1e-9 >= p.duration_s() {
                self.rest_steps = p.target_steps;
                self.motion = None;
            }
        }
    }
}

#[derive(Debug)]
struct World {
    axes: [AxisState; 4],
    speeds: AxisSpeeds,
    dead_after: Option<u64>,
    transactions: u64,
    /// Every change of an axis' motion: (instant, state from then on), the ground-truth log.
    history: [Vec<(i64, AxisState)>; 4],
}

impl World {
    fn log(&mut self, axis: usize, t_ns: i64) {
        let state = self.axes[axis];
        self.history[axis].push((t_ns, state));
    }
}

/// The stage's shared world; clones see the same axes.
#[derive(Debug, Clone)]
pub struct FakeStage {
    world: Arc<Mutex<World>>,
    byte_time_ns: f64,
}

fn lock(w: &Mutex<World>) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

fn idx(a: Axis) -> usize {
    a as usize
}

impl FakeStage {
    /// A stage at rest at 0 with these speeds; `baud` 0 answers instantly.
    pub fn new(speeds: AxisSpeeds, baud: u32) -> Self {
        let axis = AxisState { rest_steps: 0.0, motion: None, hs_raw: 0.0, limit_at: None, limit_hit: false };
        Self {
            world: Arc::new(Mutex::new(World { axes: [axis; 4], speeds, dead_after: None, transactions: 0, history: Default::default() })),
            byte_time_ns: if baud > 0 { 10.0e9 / f64::from(baud) } else { 0.0 },
        }
    }

    /// Places `axis` at rest at `steps`.
    pub fn set_position(&self, axis: Axis, steps: f64) {
        let mut w = lock(&self.world);
        w.axes[idx(axis)].rest_steps = steps;
        w.axes[idx(axis)].motion = None;
        w.log(idx(axis), i64::MIN);
    }

    /// A limit switch on `axis` at `steps`: a move crossing it stops there with a fault.
    pub fn set_limit(&self, axis: Axis, steps: f64) {
        lock(&self.world).axes[idx(axis)].limit_at = Some(steps);
    }

    /// The link stops answering after `n` more transactions (timeouts).
    pub fn die_after(&self, n: u64) {
        let mut w = lock(&self.world);
        w.dead_after = Some(w.transactions + n);
    }

    /// Exact position of `axis` at `t_ns` (any instant, past or future).
    pub fn true_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        let w = lock(&self.world);
        let hist = &w.history[idx(axis)];
        let k = hist.partition_point(|(t, _)| *t <= t_ns);
        let mut state = if k == 0 { AxisState { motion: None, rest_steps: 0.0, ..w.axes[idx(axis)] } } else { hist[k - 1].1 };
        state.advance(t_ns);
        state.position(t_ns)
    }

    /// The ground truth as a [`TruthSource`].
    pub fn truth(&self) -> Arc<dyn TruthSource> {
        let me = self.clone();
        Arc::new(move |axis: Axis, t: i64| me.true_steps(axis, t))
    }

    /// One wire transaction: waits for the command frame, applies `f` at its arrival, waits for
    /// the reply bytes. Returns the stamps.
    fn transact<R>(
        &self,
        bytes_out: u32,
        f: impl FnOnce(&mut World, i64) -> Result<(R, u32), StageError>,
    ) -> Result<(R, Poll), StageError> {
        let t_send = mono_ns();
        let arrival = t_send + (f64::from(bytes_out) * self.byte_time_ns) as i64;
        sleep_until(arrival);
        let (r, bytes_in) = {
            let mut w = lock(&self.world);
            w.transactions += 1;
            if w.dead_after.is_some_and(|d| w.transactions > d) {
                drop(w);
                std::thread::sleep(std::time::Duration::from_millis(50));
                return Err(StageError::new(StageErrorKind::Timeout, "no reply before the deadline (50 ms)"));
            }
            for a in &mut w.axes {
                a.advance(arrival);
            }
            f(&mut w, arrival)?
        };
        sleep_until(arrival + (f64::from(bytes_in) * self.byte_time_ns) as i64);
        let t_recv = mono_ns();
        Ok((r, Poll { steps: 0, t_send_ns: t_send, t_recv_ns: t_recv, bytes_out, bytes_in }))
    }
}

impl Stage for FakeStage {
    fn timing(&self) -> LinkTiming {
        LinkTiming { byte_time_ns: self.byte_time_ns, turnaround_ns: 0.0, counter_bias_steps: 0.0 }
    }

    fn wire_limit_hz(&self) -> f64 {
        if self.byte_time_ns > 0.0 {
            1e9 / (12.0 * self.byte_time_ns)
        } else {
            f64::INFINITY
        }
    }

    fn speeds(&mut self, axis: Axis) -> Result<AxisSpeeds, StageError> {
        let (s, _) = self.transact(6, |w, _| {
            let mut s = w.speeds;
            let raw = w.axes[idx(axis)].hs_raw;
            if raw > 0.0 {
                s.hs_pps = raw;
            }
            Ok((s, 5))
        })?;
        Ok(s)
    }

    fn set_axis_high_speed(&mut self, axis: Axis, raw_pps: f64) -> Result<f64, StageError> {
        let (prev, _) = self.transact(12, |w, _| {
            let a = &mut w.axes[idx(axis)];
            if a.motion.is_some() {
                return Err(StageError::controller("PULSING", "?PULSING"));
            }
            Ok((std::mem::replace(&mut a.hs_raw, raw_pps), 3))
        })?;
        Ok(prev)
    }

    fn move_to(&mut self, axis: Axis, target_steps: i64) -> Result<Poll, StageError> {
        let (_, mut stamp) = self.transact(12, |w, t| {
            let speeds = w.speeds;
            let a = &mut w.axes[idx(axis)];
            if a.motion.is_some() {
                return Err(StageError::controller("PULSING", "?PULSING"));
            }
            if a.limit_hit {
                return Err(StageError::controller("LIMIT", "?LIMIT"));
            }
            let hs = if a.hs_raw > 0.0 { a.hs_raw } else { speeds.hs_pps };
            let p = Trapezoid::new(a.rest_steps, target_steps as f64, speeds.ls_pps, hs, speeds.acc_ms * 1e-3, speeds.dec_ms * 1e-3);
            if p.duration_s() > 0.0 {
                a.motion = Some((p, t));
                w.log(idx(axis), t);
            }
            Ok(((), 3))
        })?;
        stamp.steps = target_steps;
        Ok(stamp)
    }

    fn poll(&mut self, axis: Axis) -> Result<Poll, StageError> {
        let (steps, mut stamp) = self.transact(6, |w, t| {
            let s = w.axes[idx(axis)].position(t).round() as i64;
            Ok((s, s.to_string().len() as u32 + 1))
        })?;
        stamp.steps = steps;
        Ok(stamp)
    }

    fn motion(&mut self, axis: Axis) -> Result<AxisMotion, StageError> {
        let (m, _) = self.transact(6, |w, _| {
            let a = &w.axes[idx(axis)];
            let m = if a.motion.is_some() {
                AxisMotion::Moving
            } else if a.limit_hit {
                AxisMotion::Fault("limit switch".to_string())
            } else {
                AxisMotion::Idle
            };
            Ok((m, 20))
        })?;
        Ok(m)
    }

    fn stop_all(&mut self) -> Result<i64, StageError> {
        // A decelerated stop: modelled as stopping where the axis is (tests use ABORT timing).
        self.abort_all()
    }

    fn abort_all(&mut self) -> Result<i64, StageError> {
        let (_, stamp) = self.transact(9, |w, t| {
            for k in 0..4 {
                let a = &mut w.axes[k];
                if a.motion.is_some() {
                    a.rest_steps = a.position(t);
                    a.motion = None;
                    w.log(k, t);
                }
            }
            Ok(((), 3))
        })?;
        Ok(stamp.t_send_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEEDS: AxisSpeeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 1500.0, acc_ms: 30.0, dec_ms: 30.0 };

    #[test]
    fn moves_follow_the_profile_and_end_on_target() {
        let mut s = FakeStage::new(SPEEDS, 0);
        s.move_to(Axis::X, 300).unwrap();
        assert_eq!(s.motion(Axis::X).unwrap(), AxisMotion::Moving);
        std::thread::sleep(std::time::Duration::from_millis(260));
        assert_eq!(s.motion(Axis::X).unwrap(), AxisMotion::Idle);
        assert_eq!(s.poll(Axis::X).unwrap().steps, 300);
        assert_eq!(s.true_steps(Axis::X, mono_ns()), 300.0);
    }

    #[test]
    fn wire_timing_shows_in_the_stamps() {
        let mut s = FakeStage::new(SPEEDS, 9600);
        let p = s.poll(Axis::X).unwrap();
        // 6 bytes out + 2 bytes in at 1.04 ms per byte
        assert!(p.t_recv_ns - p.t_send_ns >= 8_000_000, "{p:?}");
    }

    #[test]
    fn limit_stops_the_axis_with_a_fault() {
        let mut s = FakeStage::new(SPEEDS, 0);
        s.set_limit(Axis::X, 50.0);
        s.move_to(Axis::X, 300).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150));
        assert_eq!(s.motion(Axis::X).unwrap(), AxisMotion::Fault("limit switch".into()));
        assert_eq!(s.move_to(Axis::X, 0).unwrap_err().code.as_deref(), Some("LIMIT"));
    }
}
