//! Motion commands of the simulated controller: moves, interpolation, jog, STOP/ABORT, homing,
//! on-the-fly target and speed changes, and the installation of plans with their limit checks.
use super::profile::{finish_pulse, map_plan, plan_jog, plan_stop};
use super::*;

impl ArcusSim {
    // ---- motion commands -----------------------------------------------------------------

    pub(super) fn axis_ramp(&self, a: Axis) -> Ramp {
        let p = self.axes[a.index()].params;
        let eff = |i: usize| if p[i] != 0 { p[i] } else { self.global[i] };
        Ramp::from_settings(eff(0), eff(1), eff(2), eff(3), self.edec)
    }

    pub(super) fn global_ramp(&self) -> Ramp {
        Ramp::from_settings(self.global[0], self.global[1], self.global[2], self.global[3], self.edec)
    }

    /// Refusal of a motion command on `a` heading `dir` (+1/−1, 0 = unknown yet).
    pub(super) fn refuse_motion(&self, a: Axis, dir: f64, t: i64) -> Option<ControllerError> {
        if self.is_pulsing(a, t) {
            return Some(ControllerError::Pulsing);
        }
        let st = self.axis_status(a, t);
        if st.intersects(AxisStatus::PLUS_LIMIT_ERROR | AxisStatus::MINUS_LIMIT_ERROR) {
            return Some(ControllerError::Limit);
        }
        if st.contains(AxisStatus::ALARM_ERROR) {
            return Some(ControllerError::Alarm);
        }
        if (dir > 0.0 && st.contains(AxisStatus::PLUS_LIMIT_INPUT)) || (dir < 0.0 && st.contains(AxisStatus::MINUS_LIMIT_INPUT)) {
            return Some(ControllerError::Limit);
        }
        None
    }

    pub(super) fn cmd_move(&mut self, pairs: &[(Axis, i64)], t: i64) -> Reply {
        let mut members = Vec::new();
        for (a, n) in pairs {
            let tr = &self.axes[a.index()].truth;
            let here = tr.commanded(t);
            let target = match self.mode {
                MoveMode::Absolute => *n as f64 + tr.offset(t),
                MoveMode::Incremental => here.round() + *n as f64,
            };
            if (target - tr.offset(t)).abs() > f64::from(i32::MAX) {
                return unknown(&Command::Move(pairs.to_vec()));
            }
            let dist = target - here;
            if let Some(e) = self.refuse_motion(*a, dist.signum(), t) {
                return Reply::Error(e);
            }
            members.push((*a, here, target, dist));
        }
        let moving: Vec<_> = members.into_iter().filter(|m| m.3.abs() > 1e-9).collect();
        if moving.is_empty() {
            return Reply::Ok;
        }
        if moving.len() == 1 {
            let (a, here, target, dist) = moving[0];
            let ramp = self.axis_ramp(a);
            let plan = map_plan(&plan_move(t, dist.abs(), 0.0, &ramp), here, dist.signum(), 1.0);
            self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
            return Reply::Ok;
        }
        let ramp = self.global_ramp();
        let longest = moving.iter().map(|m| m.3.abs()).fold(0.0, f64::max);
        let base = plan_move(t, longest, 0.0, &ramp);
        let plans = moving
            .iter()
            .map(|(a, here, _, dist)| {
                let k = dist.abs() / longest;
                (*a, map_plan(&base, *here, dist.signum(), k), ramp.scaled(k))
            })
            .collect();
        self.start(plans, t, Motion::Other, true);
        Reply::Ok
    }

    pub(super) fn cmd_jog(&mut self, a: Axis, positive: bool, t: i64) -> Reply {
        let dir = if positive { 1.0 } else { -1.0 };
        if let Some(e) = self.refuse_motion(a, dir, t) {
            return Reply::Error(e);
        }
        let ramp = self.axis_ramp(a);
        let here = self.axes[a.index()].truth.commanded(t);
        let plan = map_plan(&plan_jog(t, 0.0, &ramp), here, dir, 1.0);
        self.start(vec![(a, plan, ramp)], t, Motion::Jog, true);
        Reply::Ok
    }

    pub(super) fn stop_axis(&mut self, a: Axis, t: i64) {
        if !self.is_pulsing(a, t) {
            return;
        }
        let members = self.group_members(a, t);
        let plans = members
            .into_iter()
            .map(|m| {
                let ax = &self.axes[m.index()];
                let (x, v) = (ax.truth.commanded(t), ax.truth.velocity(t));
                let ramp = ax.ramp;
                let mut plan = plan_stop(t, v.abs(), &ramp);
                finish_pulse(&mut plan, t, x, v.signum(), 1.0, ramp.ls);
                (m, map_plan(&plan, x, v.signum(), 1.0), ramp)
            })
            .collect();
        self.start(plans, t, Motion::Other, true);
    }

    pub(super) fn abort_axis(&mut self, a: Axis, t: i64) {
        if !self.is_pulsing(a, t) {
            return;
        }
        for m in self.group_members(a, t) {
            let ramp = self.axes[m.index()].ramp;
            self.start(vec![(m, Vec::new(), ramp)], t, Motion::Idle, false);
        }
    }

    pub(super) fn group_members(&self, a: Axis, t: i64) -> Vec<Axis> {
        match self.axes[a.index()].group {
            Some(g) => Axis::ALL.into_iter().filter(|m| self.axes[m.index()].group == Some(g) && self.is_pulsing(*m, t)).collect(),
            None => vec![a],
        }
    }

    pub(super) fn cmd_home(&mut self, cmd: &Command, a: Axis, positive: bool, mode: u8, t: i64) -> Reply {
        if mode == 2 || mode == 3 {
            return unknown(cmd);
        }
        let dir = if positive { 1.0 } else { -1.0 };
        if let Some(e) = self.refuse_motion(a, dir, t) {
            return Reply::Error(e);
        }
        let ramp = self.axis_ramp(a);
        let sw = self.cfg.switches[a.index()];
        let tr = &self.axes[a.index()].truth;
        let here = tr.commanded(t);
        let lag = here - tr.physical(t);
        let jog = map_plan(&plan_jog(t, 0.0, &ramp), here, dir, 1.0);
        match mode {
            1 => {
                let limit = if positive { sw.plus_limit } else { sw.minus_limit };
                let Some(l) = limit else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let l_cmd = l as f64 + lag;
                let Some((t_hit, mut plan)) = cut_at_crossing(&jog, l_cmd) else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                // Back off at LS until the switch releases (one pulse), stop, zero there.
                let dur = (1.0 / ramp.ls * 1e9).round() as i64;
                plan.push(Piece { t0_ns: t_hit, dur_ns: dur, x0: l_cmd, v0: -dir * ramp.ls, a: 0.0, phase: Phase::Constant });
                let t_end = t_hit + dur;
                let zero_at = l_cmd - dir;
                self.start(vec![(a, plan, ramp)], t, Motion::Other, false);
                self.axes[a.index()].truth.set_offset(t_end, zero_at);
            }
            _ => {
                let Some(h) = sw.home else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let h_cmd = h as f64 + lag;
                if (here - h_cmd).abs() < 0.5 {
                    self.axes[a.index()].truth.set_offset(t, h_cmd);
                    if mode == 4 {
                        let ratio = self.cfg.encoder_counts_per_step(a);
                        let phys = self.axes[a.index()].truth.physical(t);
                        self.axes[a.index()].truth.set_encoder_offset(t, ratio * phys);
                    }
                    return Reply::Ok;
                }
                let Some((t_h, mut plan)) = cut_at_crossing(&jog, h_cmd) else {
                    // Home switch behind us: run on until a limit or STOP.
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let v = plan.last().map_or(ramp.ls, |p| p.end_vel().abs());
                let mut stop = plan_stop(t_h, v, &ramp);
                finish_pulse(&mut stop, t_h, h_cmd, dir, 1.0, ramp.ls);
                let stop = map_plan(&stop, h_cmd, dir, 1.0);
                let (t_s, x_s) = stop.last().map_or((t_h, h_cmd), |p| (p.end_ns(), p.end_pos()));
                plan.extend(stop);
                let mut zero = (t_h, h_cmd);
                if mode == 4 {
                    // Back at LS to the home point, stop, zero position and encoder there.
                    let back = (x_s - h_cmd).abs();
                    let dur = (back / ramp.ls * 1e9).round() as i64;
                    if dur > 0 {
                        plan.push(Piece { t0_ns: t_s, dur_ns: dur, x0: x_s, v0: -dir * ramp.ls, a: 0.0, phase: Phase::Constant });
                    }
                    zero = (t_s + dur, h_cmd);
                }
                self.start(vec![(a, plan, ramp)], t, Motion::Other, true);
                if zero.0 <= self.axes[a.index()].motion_end_ns {
                    self.axes[a.index()].truth.set_offset(zero.0, zero.1);
                    if mode == 4 {
                        let ratio = self.cfg.encoder_counts_per_step(a);
                        self.axes[a.index()].truth.set_encoder_offset(zero.0, ratio * (h as f64));
                    }
                }
            }
        }
        Reply::Ok
    }

    /// Re-plans `a` from (x, v) at `t` to reach `target` (commanded frame).
    pub(super) fn plan_to(&self, a: Axis, target: f64, ramp: &Ramp, t: i64) -> Vec<Piece> {
        let tr = &self.axes[a.index()].truth;
        let (x, v) = (tr.commanded(t), tr.velocity(t));
        let dir = v.signum();
        let ahead = (target - x) * dir;
        if ahead >= ramp.stop_distance(v.abs()) {
            return map_plan(&plan_move(t, ahead, v.abs(), ramp), x, dir, 1.0);
        }
        let mut stop = plan_stop(t, v.abs(), ramp);
        finish_pulse(&mut stop, t, x, dir, 1.0, ramp.ls);
        let mut plan = map_plan(&stop, x, dir, 1.0);
        let (t_s, x_s) = plan.last().map_or((t, x), |p| (p.end_ns(), p.end_pos()));
        let back = target - x_s;
        plan.extend(map_plan(&plan_move(t_s, back.abs(), 0.0, ramp), x_s, back.signum(), 1.0));
        plan
    }

    pub(super) fn cmd_target(&mut self, a: Axis, n: i64, t: i64) -> Reply {
        let ax = &self.axes[a.index()];
        if !self.is_pulsing(a, t) || ax.group.is_some() || !matches!(ax.motion, Motion::Move { .. }) {
            return Reply::Ok;
        }
        let target = n as f64 + ax.truth.offset(t);
        let ramp = ax.ramp;
        let plan = self.plan_to(a, target, &ramp, t);
        self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
        Reply::Ok
    }

    pub(super) fn cmd_speed_change(&mut self, cmd: &Command, a: Axis, v: i64, t: i64) -> Reply {
        let ax = &self.axes[a.index()];
        if ax.sspd_window == 0 {
            return Reply::Error(ControllerError::SspdError);
        }
        if !(1..=MAX_SPEED).contains(&v) {
            return unknown(cmd);
        }
        if !self.is_pulsing(a, t) || ax.group.is_some() {
            return Reply::Ok;
        }
        let mut ramp = ax.ramp;
        let rate = ramp.acc;
        ramp.hs = v as f64;
        ramp.ls = ramp.ls.min(ramp.hs);
        ramp.dec = rate;
        match ax.motion {
            Motion::Move { target } => {
                let plan = self.plan_to(a, target, &ramp, t);
                self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
            }
            Motion::Jog => {
                let tr = &ax.truth;
                let (x, vel) = (tr.commanded(t), tr.velocity(t));
                let plan = map_plan(&plan_jog(t, vel.abs(), &ramp), x, vel.signum(), 1.0);
                self.start(vec![(a, plan, ramp)], t, Motion::Jog, true);
            }
            _ => {}
        }
        Reply::Ok
    }

    /// Re-plans a running motion of `a` after a new one-shot limit appeared (fault injection).
    pub(super) fn replan_remainder(&mut self, a: Axis, t: i64) {
        let ax = &self.axes[a.index()];
        let plan = ax.truth.plan_after(t);
        let ramp = ax.ramp;
        let motion = ax.motion;
        self.start(vec![(a, plan, ramp)], t, motion, true);
    }

    /// Installs plans (commanded frame) from `t` on: cuts every member's track at `t`, checks
    /// the limit switches along the way (a hit stops the whole group at once, latching the error
    /// unless IERR=1), and schedules the end of motion.
    pub(super) fn start(&mut self, mut plans: Vec<(Axis, Vec<Piece>, Ramp)>, t: i64, motion: Motion, check_limits: bool) {
        let group = (plans.len() > 1).then(|| {
            self.next_group += 1;
            self.next_group
        });
        let mut hit: Option<(i64, Axis, f64, AxisStatus, Option<usize>)> = None;
        if check_limits {
            for (a, plan, _) in &plans {
                if let Some(h) = self.first_limit_hit(*a, plan) {
                    if hit.map_or(true, |cur| h.0 < cur.0) {
                        hit = Some((h.0, *a, h.1, h.2, h.3));
                    }
                }
            }
        }
        if let Some((t_hit, hit_axis, x_hit, bits, phantom)) = hit {
            for (a, plan, _) in &mut plans {
                let at = cut_plan(plan, t_hit);
                let x = if *a == hit_axis { x_hit } else { at.0 };
                let x = if *a == hit_axis { x } else { whole_pulses(x, at.1) as f64 };
                plan.push(Piece { t0_ns: t_hit, dur_ns: 0, x0: x, v0: 0.0, a: 0.0, phase: Phase::Rest });
            }
            let ax = &mut self.axes[hit_axis.index()];
            if let Some(i) = phantom {
                ax.phantom_limits.remove(i);
            }
            if !self.ierr {
                ax.pending_latch = Some((t_hit, bits));
            }
        }
        for (a, plan, ramp) in plans {
            let ax = &mut self.axes[a.index()];
            if hit.map_or(true, |h| h.1 != a) {
                // A new plan replaces whatever error a superseded plan would have latched later.
                if ax.pending_latch.is_some_and(|(tl, _)| tl > t) {
                    ax.pending_latch = None;
                }
            }
            let end = ax.truth.install(t, plan);
            ax.motion_end_ns = end;
            ax.ramp = ramp;
            ax.motion = if end > t { motion } else { Motion::Idle };
            ax.group = if end > t { group } else { None };
        }
    }

    /// The first limit (real or one-shot) the plan runs into: (time, position, error bit,
    /// index of the one-shot limit).
    pub(super) fn first_limit_hit(&self, a: Axis, plan: &[Piece]) -> Option<(i64, f64, AxisStatus, Option<usize>)> {
        let ax = &self.axes[a.index()];
        let t0 = plan.first()?.t0_ns;
        if ax.truth.is_stalled(t0) {
            return None;
        }
        let lag = ax.truth.commanded(t0) - ax.truth.physical(t0);
        let sw = self.cfg.switches[a.index()];
        for p in plan {
            let v = p.v0 + p.a * (p.dur_ns.min(FOREVER_NS) as f64 / 2e9).min(1.0);
            let dir = if p.v0 != 0.0 { p.v0.signum() } else { v.signum() };
            if dir == 0.0 {
                continue;
            }
            let mut best: Option<(i64, f64, AxisStatus, Option<usize>)> = None;
            let mut consider = |pos: f64, bits: AxisStatus, idx: Option<usize>| {
                if (pos - p.x0) * dir > 1e-9 {
                    if let Some(th) = p.time_to_reach(pos) {
                        if best.map_or(true, |b| th < b.0) {
                            best = Some((th, pos, bits, idx));
                        }
                    }
                }
            };
            if dir > 0.0 {
                if let Some(l) = sw.plus_limit {
                    consider(l as f64 + lag, AxisStatus::PLUS_LIMIT_ERROR, None);
                }
            } else if let Some(l) = sw.minus_limit {
                consider(l as f64 + lag, AxisStatus::MINUS_LIMIT_ERROR, None);
            }
            for (i, pl) in ax.phantom_limits.iter().enumerate() {
                let bits = if dir > 0.0 { AxisStatus::PLUS_LIMIT_ERROR } else { AxisStatus::MINUS_LIMIT_ERROR };
                consider(*pl as f64 + lag, bits, Some(i));
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

/// Cuts a plan at `t`: drops what starts after, shortens the piece running then. Returns the
/// position and velocity at `t`.
pub(super) fn cut_plan(plan: &mut Vec<Piece>, t: i64) -> (f64, f64) {
    plan.retain(|p| p.t0_ns < t || (p.t0_ns == t && p.dur_ns == 0));
    match plan.last_mut() {
        Some(p) => {
            p.dur_ns = (t - p.t0_ns).max(0);
            (p.end_pos(), p.end_vel())
        }
        None => (f64::NAN, 0.0),
    }
}

/// The plan up to where it first reaches `x`, and that instant.
pub(super) fn cut_at_crossing(plan: &[Piece], x: f64) -> Option<(i64, Vec<Piece>)> {
    for (i, p) in plan.iter().enumerate() {
        if let Some(th) = p.time_to_reach(x) {
            let mut head = plan[..=i].to_vec();
            if let Some(last) = head.last_mut() {
                last.dur_ns = th - last.t0_ns;
            }
            return Some((th, head));
        }
    }
    None
}
