//! Frames and commands of the simulated controller: reply faults, wire instants, and what each
//! command of the codec does to the model (queries sample the state at the frame's arrival).
use super::*;

impl ArcusSim {
    // ---- frames --------------------------------------------------------------------------

    /// Handles one frame addressed to this controller, fully arrived at `t_arrived_ns`.
    ///
    /// `wire` adds the turnaround and the reply's own wire time to the ready instant (the
    /// command's inbound time is the caller's: it is in `t_arrived_ns`).
    pub fn handle_command(&mut self, text: &str, t_arrived_ns: i64, framing: Framing, wire: bool) -> FrameOutcome {
        let outcome = self.handle_frame(text, t_arrived_ns, framing, wire);
        self.publish();
        outcome
    }

    fn handle_frame(&mut self, text: &str, t_arrived_ns: i64, framing: Framing, wire: bool) -> FrameOutcome {
        if self.faults.dead {
            return FrameOutcome::Dead;
        }
        let t = self.clamp_time(t_arrived_ns);
        self.settle(t);
        // Communication watchdog: silence longer than TOC before this frame sets bit 11.
        if self.toc_bit(t) {
            self.toc_expired = true;
        }
        self.last_comm_ns = Some(t);
        let reply = match Command::parse(text) {
            Ok(cmd) => {
                if matches!(
                    cmd,
                    Command::Move(_)
                        | Command::Jog { .. }
                        | Command::Stop(_)
                        | Command::Abort(_)
                        | Command::Home { .. }
                        | Command::TargetChange { .. }
                        | Command::SetPosition(..)
                        | Command::SetEncoder(..)
                        | Command::SpeedChange(..)
                ) {
                    self.version += 1;
                }
                self.execute(&cmd, t)
            }
            Err(_) => Reply::Error(ControllerError::UnknownCommand(text.to_string())),
        };
        let mut reply_text = reply.encode();
        if self.faults.corrupt_next > 0 {
            if let Some(cut) = without_first_digit(&reply_text) {
                self.faults.corrupt_next -= 1;
                reply_text = cut;
            }
        }
        self.replies += 1;
        let f = &self.cfg.faults;
        let n = self.replies;
        if let Some(limit) = f.disconnect_after {
            if n > limit {
                self.faults.dead = true;
                return FrameOutcome::Dead;
            }
        }
        if self.faults.drop_next > 0 {
            self.faults.drop_next -= 1;
            return FrameOutcome::Silent;
        }
        if f.drop_every > 0 && n % f.drop_every == 0 {
            return FrameOutcome::Silent;
        }
        let garble = if self.faults.garble_next > 0 {
            self.faults.garble_next -= 1;
            true
        } else {
            f.garble_every > 0 && n % f.garble_every == 0
        };
        let mut extra = self.cfg.faults.extra_delay_ns;
        if self.faults.delay_next > 0 {
            self.faults.delay_next -= 1;
            extra += self.faults.delay_next_ns;
        }
        let bytes = if garble {
            // Line noise: every character's high bit flipped, the terminator kept.
            let mut b: Vec<u8> = reply_text.bytes().map(|b| b ^ 0x80).collect();
            b.extend_from_slice(&framing.encode_reply("")[..]);
            b
        } else {
            framing.encode_reply(&reply_text)
        };
        let ready_ns = t + extra + if wire { self.reply_ready_ns(bytes.len()) } else { 0 };
        FrameOutcome::Reply { bytes, ready_ns }
    }

    /// Turnaround plus the wire time of `reply_bytes` at the line's baud (ns).
    pub fn reply_ready_ns(&self, reply_bytes: usize) -> i64 {
        self.cfg.turnaround_ns + wire_time_ns(reply_bytes, self.cfg.baud)
    }

    /// Executes a parsed command at `t_ns` (already settled) and gives the reply.
    pub fn execute(&mut self, cmd: &Command, t: i64) -> Reply {
        use Command::*;
        if !values_in_range(cmd) {
            return unknown(cmd);
        }
        match cmd {
            Move(pairs) => self.cmd_move(pairs, t),
            Jog { axis, positive } => self.cmd_jog(*axis, *positive, t),
            Stop(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    self.stop_axis(axis, t);
                }
                Reply::Ok
            }
            Abort(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    self.abort_axis(axis, t);
                }
                Reply::Ok
            }
            Home { axis, positive, mode } => self.cmd_home(cmd, *axis, *positive, *mode, t),
            TargetChange { axis, target } => self.cmd_target(*axis, *target, t),
            GetPosition(a) => Reply::Int(self.pulse_position(*a, t)),
            SetPosition(a, n) => {
                if self.is_pulsing(*a, t) {
                    return Reply::Error(ControllerError::Pulsing);
                }
                let tr = &mut self.axes[a.index()].truth;
                let off = tr.commanded(t) - *n as f64;
                tr.set_offset(t, off);
                Reply::Ok
            }
            GetPositions => Reply::List(Axis::ALL.iter().map(|a| self.pulse_position(*a, t)).collect()),
            GetEncoder(a) => Reply::Int(self.encoder(*a, t)),
            SetEncoder(a, n) => {
                let ratio = self.cfg.encoder_counts_per_step(*a);
                let tr = &mut self.axes[a.index()].truth;
                let off = ratio * tr.physical(t) - *n as f64;
                tr.set_encoder_offset(t, off);
                Reply::Ok
            }
            GetEncoders => Reply::List(Axis::ALL.iter().map(|a| self.encoder(*a, t)).collect()),
            GetSpeeds => Reply::List(Axis::ALL.iter().map(|a| self.pulse_rate(*a, t)).collect()),
            GetStatus => Reply::List(self.motor_status(t).encode().split(':').filter_map(|f| f.parse().ok()).collect()),
            GetParam(p, a) => Reply::Int(match a {
                None => self.global[param_index(*p)],
                Some(a) => self.axes[a.index()].params[param_index(*p)],
            }),
            SetParam(p, a, v) => {
                let ok = match p {
                    SpeedParam::HighSpeed | SpeedParam::LowSpeed => (1..=MAX_SPEED).contains(v) || (a.is_some() && *v == 0),
                    SpeedParam::Accel | SpeedParam::Decel => (0..=1_000_000).contains(v),
                };
                if !ok {
                    return unknown(cmd);
                }
                match a {
                    None => self.global[param_index(*p)] = *v,
                    Some(a) => self.axes[a.index()].params[param_index(*p)] = *v,
                }
                Reply::Ok
            }
            GetEdec => Reply::Int(i64::from(self.edec)),
            SetEdec(b) => {
                self.edec = *b;
                Reply::Ok
            }
            GetEnable => Reply::Int(i64::from(self.enable)),
            SetEnable(v) => {
                self.enable = *v;
                Reply::Ok
            }
            GetEnableBit(n) => Reply::Int(i64::from((self.enable >> (n - 1)) & 1)),
            SetEnableBit(n, b) => {
                let bit = 1u8 << (n - 1);
                self.enable = if *b { self.enable | bit } else { self.enable & !bit };
                Reply::Ok
            }
            Absolute => {
                self.mode = MoveMode::Absolute;
                Reply::Ok
            }
            Incremental => {
                self.mode = MoveMode::Incremental;
                Reply::Ok
            }
            Clear(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    let ax = &mut self.axes[axis.index()];
                    ax.latched = AxisStatus::empty();
                    // An error still ahead in a running plan is cleared as well.
                    if let Some((tl, _)) = ax.pending_latch {
                        if tl <= t {
                            ax.pending_latch = None;
                        }
                    }
                }
                self.toc_expired = false;
                Reply::Ok
            }
            GetIerr => Reply::Int(i64::from(self.ierr)),
            SetIerr(b) => {
                self.ierr = *b;
                Reply::Ok
            }
            GetDeviceName => Reply::Text(self.device_name.clone()),
            SetDeviceName(name) => {
                if !(name.len() == 5 && name.starts_with("4EX") && name[3..].bytes().all(|b| b.is_ascii_digit())) {
                    return unknown(cmd);
                }
                self.device_name = name.clone();
                Reply::Ok
            }
            GetBaudCode => Reply::Int(i64::from(self.baud_code_setting)),
            SetBaudCode(c) => {
                self.baud_code_setting = *c;
                Reply::Ok
            }
            Version => Reply::Text(FIRMWARE_VERSION.into()),
            GetInputs => Reply::Int(i64::from(self.inputs)),
            GetInput(n) => Reply::Int(i64::from((self.inputs >> (n - 1)) & 1)),
            GetOutputs => Reply::Int(i64::from(self.outputs_at(t))),
            SetOutputs(v) => {
                self.outputs = *v;
                Reply::Ok
            }
            GetOutput(n) => Reply::Int(i64::from((self.outputs_at(t) >> (n - 1)) & 1)),
            SetOutput(n, b) => {
                let bit = 1u8 << (n - 1);
                self.outputs = if *b { self.outputs | bit } else { self.outputs & !bit };
                Reply::Ok
            }
            GetAnalogInput(_) => Reply::Int(0),
            SetSpeedWindow(a, w) => {
                if self.is_pulsing(*a, t) {
                    return Reply::Error(ControllerError::Pulsing);
                }
                self.axes[a.index()].sspd_window = *w;
                Reply::Ok
            }
            SpeedChange(a, v) => self.cmd_speed_change(cmd, *a, *v, t),
            GetToc => Reply::Int(self.toc_ms),
            SetToc(ms) => {
                self.toc_ms = *ms;
                self.toc_expired = false;
                Reply::Ok
            }
            SetLatch(a, on) => {
                let l = &mut self.axes[a.index()].latch;
                *l = Latch { armed: *on, ..Latch::default() };
                Reply::Ok
            }
            GetLatchStatus(a) => {
                let l = self.axes[a.index()].latch;
                Reply::Int(if l.triggered { 2 } else { i64::from(l.armed) })
            }
            GetLatchPosition(a) => Reply::Int(self.axes[a.index()].latch.pulse),
            GetLatchEncoder(a) => Reply::Int(self.axes[a.index()].latch.encoder),
            SetSync(a, on) => {
                self.keep_sync_firing(*a, t);
                let s = &mut self.axes[a.index()].sync;
                s.on = *on;
                s.armed_ns = t;
                Reply::Ok
            }
            GetSyncRegister(a, r) => {
                let s = self.axes[a.index()].sync;
                Reply::Int(match r {
                    SyncRegister::Position => s.position,
                    SyncRegister::Condition => s.condition,
                    SyncRegister::Width => s.width_ms,
                })
            }
            SetSyncRegister(a, r, v) => {
                let ok = match r {
                    SyncRegister::Position => true,
                    SyncRegister::Condition => (1..=3).contains(v),
                    SyncRegister::Width => (0..=10).contains(v),
                };
                if !ok {
                    return unknown(cmd);
                }
                self.keep_sync_firing(*a, t);
                let s = &mut self.axes[a.index()].sync;
                match r {
                    SyncRegister::Position => s.position = *v,
                    SyncRegister::Condition => s.condition = *v,
                    SyncRegister::Width => s.width_ms = *v,
                }
                s.armed_ns = t;
                Reply::Ok
            }
            GetSyncStatus(a) => {
                let s = self.axes[a.index()].sync;
                Reply::Int(if !s.on {
                    0
                } else if self.sync_event_ns(*a).is_some_and(|te| te <= t) {
                    2
                } else {
                    1
                })
            }
            Store => Reply::Ok,
        }
    }

    // ---- sync output ---------------------------------------------------------------------

    /// The current firing of `axis`' compare output, if any (planned: it may lie ahead).
    fn sync_firing(&self, axis: Axis) -> Option<SyncEvent> {
        let s = self.axes[axis.index()].sync;
        self.sync_event_ns(axis).map(|t_ns| SyncEvent {
            axis: axis.letter(),
            armed_ns: s.armed_ns,
            t_ns,
            position_counts: s.position,
            condition: s.condition,
        })
    }

    /// Before `axis`' output is re-armed or turned off at `t`: keeps its firing in the ground
    /// truth if it happened.
    fn keep_sync_firing(&mut self, axis: Axis, t: i64) {
        if let Some(e) = self.sync_firing(axis).filter(|e| e.t_ns <= t) {
            self.sync_history.push(e);
        }
    }

    /// Every firing of the compare outputs so far, in order of arming; for an output still armed,
    /// the instant its condition is met on the motion planned so far (which may lie ahead).
    pub fn sync_events(&self) -> Vec<SyncEvent> {
        let mut all = self.sync_history.clone();
        all.extend(Axis::ALL.iter().filter_map(|a| self.sync_firing(*a)));
        all
    }

    /// When the sync condition of `axis` first held after it was armed (encoder compare), if
    /// it has or will on the current plan.
    pub fn sync_event_ns(&self, axis: Axis) -> Option<i64> {
        let ax = &self.axes[axis.index()];
        let s = ax.sync;
        if !s.on {
            return None;
        }
        let ratio = self.cfg.encoder_counts_per_step(axis);
        let holds = |t: i64| {
            let e = self.encoder(axis, t);
            match s.condition {
                2 => e < s.position,
                3 => e > s.position,
                _ => e == s.position,
            }
        };
        if holds(s.armed_ns) {
            return Some(s.armed_ns);
        }
        if ratio == 0.0 {
            return None;
        }
        // The count reads P while the motor is in [lo, hi) (quadrature: the last count passed), so
        // the condition starts holding when the motor first crosses the band's edge that leads
        // into it: lo or hi for "equal", lo (going down) for "below", hi (going up) for "above".
        let tr = &ax.truth;
        let off = tr.encoder_offset(s.armed_ns);
        let lo = (s.position as f64 + off) / ratio;
        let hi = (s.position as f64 + 1.0 + off) / ratio;
        match s.condition {
            2 => tr.first_crossing(lo, s.armed_ns),
            3 => tr.first_crossing(hi, s.armed_ns),
            _ => match (tr.first_crossing(lo, s.armed_ns), tr.first_crossing(hi, s.armed_ns)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    pub(super) fn outputs_at(&self, t: i64) -> u8 {
        let mut out = self.outputs;
        for a in Axis::ALL {
            let s = self.axes[a.index()].sync;
            if !s.on {
                continue;
            }
            let bit = 1u8 << a.index();
            let on = match s.condition {
                1 => self.sync_event_ns(a).is_some_and(|te| {
                    let width = s.width_ms.max(0) * 1_000_000;
                    te <= t && (t < te + width || self.encoder(a, t) == s.position)
                }),
                2 => self.encoder(a, t) < s.position,
                _ => self.encoder(a, t) > s.position,
            };
            out = if on { out | bit } else { out & !bit };
        }
        out
    }
}

/// Whether the numbers of a command fit the controller's 32-bit registers.
fn values_in_range(cmd: &Command) -> bool {
    let fits = |v: i64| i32::try_from(v).is_ok();
    match cmd {
        Command::Move(pairs) => pairs.iter().all(|(_, n)| fits(*n)),
        Command::TargetChange { target, .. } => fits(*target),
        Command::SetPosition(_, n) | Command::SetEncoder(_, n) => fits(*n),
        Command::SetSyncRegister(_, _, v) => fits(*v),
        Command::SetToc(ms) => fits(*ms),
        _ => true,
    }
}

/// A number's text without its first digit (`-27523` → `-7523`), for numbers of two digits or more.
fn without_first_digit(text: &str) -> Option<String> {
    let (sign, digits) = text.strip_prefix('-').map_or(("", text), |d| ("-", d));
    (digits.len() >= 2 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{sign}{}", &digits[1..]))
}
