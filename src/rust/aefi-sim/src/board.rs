//! Simulator of the AEFI acquisition board: the same serial protocol, the board's timing, and
//! channels computed from the known field map at the **true** probe position.
//!
//! Split like a lewis device: [`BoardModel`] is the device (registers, ADC, noise, faults; it
//! turns one command received at an instant into reply chunks released at later instants) and
//! [`BoardSimPort`] is its byte interface (frames commands at `*`, queues the replies with their
//! release times). Links (in-process `sim://`, PTY, TCP) wrap a port.
//!
//! Behaviour (see `board::protocol`, `board::timing` and `board::registers` for the assumed
//! details):
//! - `m<n>*`: the averaging window starts `pre` after the command's last byte arrives and lasts
//!   `n · per_sample`; each of the first six codes is the detection chain's output
//!   ([`crate::detection`]: the field map at the probe's true position through the sensor
//!   rotation, scaled by the excitation in force, through a first-order low-pass of
//!   `filter_tau_ms` and delayed by the ADC filter's group delay at the configured OSR) at the
//!   conversions in that window (up to [`WINDOW_POINTS`] instants evenly spread, averaged; the
//!   middle instant is the window's centre), plus Gaussian noise of `noise_volts / √n`, quantised
//!   by the current ADC gain and reference (saturating at 24 bits). Codes 7 and 8 carry noise only.
//! - `a`/`d`: the register file; refusals as `?ADDR`, `?NOADDR`, `?RANGE` (+ the command). A
//!   DDS1/DDS2 gain write changes the excitation from the instant the command is complete (the
//!   AD9106's own propagation time is unknown and not modelled).
//! - An unknown command: `?CMD <text>`.
//! - Faults (injected at run time, each for the next `count` measurements): `garbage` (the data
//!   line is binary junk), `short` (only five codes), `silence` (no reply at all), `unplug` (the
//!   link fails from now on, as a USB-serial adapter pulled out).
//!
//! - Baseline: every channel also carries `baseline_offset_volts` plus `baseline_drift_volts_per_s`
//!   × the time since the board's first measurement, with or without excitation (what a
//!   differential scan's muted lines measure and subtract); both 0 by default. Options of a
//!   `sim://` URL: `board_offset_uv`, `board_drift_uv_per_s`.
//! - Phase: the in-phase/quadrature pair of each axis turns with DDS1's phase word away from its
//!   power-up value (the synchronous detection's references DDS3/DDS4 stay put): rewriting the
//!   phase changes the measured direction, as on the bench.
//!
//! Every measurement appends its ground truth ([`SampleTruth`]) to a bounded log, and every
//! register write (address, value) to another ([`BoardSimHandle::register_writes`]).
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::detection::{adc_group_delay_ns, sensor_volts, DetectionChain};
use crate::field::FieldMap;
use aefi_scan_engine::board::convert::{Calibration, Rotation, V_PER_M_PER_VOLT};
use aefi_scan_engine::board::protocol::{format_codes, BoardProtocolError, Command, CommandFramer, RawCodes, CODES_PER_LINE};
use aefi_scan_engine::board::registers::{addr, RegisterFile};
use aefi_scan_engine::board::timing::BoardTiming;

/// Most instants of the averaging window at which the field is evaluated.
pub const WINDOW_POINTS: u32 = 16;
/// Ground-truth records kept (oldest dropped first).
pub const TRUTH_LOG_CAPACITY: usize = 1 << 20;
/// Default noise of one conversion (V, 1σ) referred to the lock-in output.
pub const DEFAULT_NOISE_VOLTS: f64 = 300e-6;
/// Bench step size (mm per Arcus step) used to turn axis truth into millimetres.
pub const DEFAULT_MM_PER_STEP: f64 = aefi_scan_engine::engine::plan::BENCH_STEP_UM * 1e-3;

/// Where the probe truly is at an instant: `t_ns` (CLOCK_MONOTONIC) → (x_mm, y_mm).
pub type ProbeFn = Arc<dyn Fn(i64) -> (f64, f64) + Send + Sync>;

/// A probe that never moves.
pub fn static_probe(x_mm: f64, y_mm: f64) -> ProbeFn {
    Arc::new(move |_| (x_mm, y_mm))
}

/// Settings of one simulated board.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardSimConfig {
    /// Reply timing model.
    pub timing: BoardTiming,
    /// `true`: replies are released as the real board would send them; `false`: at once.
    pub wire_timing: bool,
    /// Noise of one conversion (V, 1σ); the average of n has `noise_volts / √n`.
    pub noise_volts: f64,
    /// Seed of the noise generator (runs are reproducible).
    pub seed: u64,
    /// The sample's field.
    pub map: FieldMap,
    /// Sensor → lab rotation of the simulated probe (the sensor reads the inverse).
    pub sensor_to_lab: Rotation,
    /// Time constant (ms) of the synchronous detection's first-order output low-pass; 0 (the
    /// default): no detection chain at all, an ideal detector reading the field without lag.
    /// The bench's value is unknown.
    pub filter_tau_ms: f64,
    /// Offset of every channel (V), excitation on or off.
    pub baseline_offset_volts: f64,
    /// Drift of every channel (V/s) from the board's first measurement, excitation on or off.
    pub baseline_drift_volts_per_s: f64,
}

/// Board options of a `sim://` URL besides the `board_*` ones (the rest are the Arcus simulator's).
pub const BOARD_OPTIONS: [&str; 1] = ["filter_tau_ms"];

/// Longest `filter_tau_ms` accepted (ms).
pub const MAX_FILTER_TAU_MS: f64 = 10_000.0;

/// Whether a `sim://` option is the board's (not the Arcus simulator's).
pub fn is_board_option(key: &str) -> bool {
    key.starts_with("board_") || BOARD_OPTIONS.contains(&key)
}

impl BoardSimConfig {
    /// Applies `filter_tau_ms` (ms, 0..=[`MAX_FILTER_TAU_MS`]).
    ///
    /// # Errors
    /// An unknown key or a value out of range, as a sentence naming both.
    pub fn apply_option(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "filter_tau_ms" => {
                let tau: f64 = value.trim().parse().map_err(|_| format!("filter_tau_ms must be a number of ms, got {value:?}"))?;
                if !(tau.is_finite() && (0.0..=MAX_FILTER_TAU_MS).contains(&tau)) {
                    return Err(format!("filter_tau_ms must be in 0..={MAX_FILTER_TAU_MS} ms, got {value}"));
                }
                self.filter_tau_ms = tau;
                Ok(())
            }
            other => Err(format!("unknown board simulator option {other:?} (allowed: {})", BOARD_OPTIONS.join(", "))),
        }
    }

    /// Applies the board's options of a `sim://` URL (`board_offset_uv`, `board_drift_uv_per_s`,
    /// `filter_tau_ms`); other keys are the Arcus's and are skipped.
    ///
    /// # Errors
    /// A value that is not a finite number, or out of range.
    pub fn with_url_options<'a>(mut self, options: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        for (k, v) in options {
            let number = || {
                v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{k} must be a finite number (µV), got {v:?}"))
            };
            match k {
                "board_offset_uv" => self.baseline_offset_volts = number()? * 1e-6,
                "board_drift_uv_per_s" => self.baseline_drift_volts_per_s = number()? * 1e-6,
                "filter_tau_ms" => self.apply_option(k, v)?,
                k if k.starts_with("board_") => return Err(format!("unknown board option {k:?} (board_offset_uv, board_drift_uv_per_s)")),
                _ => {}
            }
        }
        Ok(self)
    }
}

impl Default for BoardSimConfig {
    fn default() -> Self {
        Self {
            timing: BoardTiming::legacy_fit(),
            wire_timing: true,
            noise_volts: DEFAULT_NOISE_VOLTS,
            seed: 0x00AE_F1B0,
            map: FieldMap::aefi_default(),
            sensor_to_lab: Rotation::identity(),
            filter_tau_ms: 0.0,
            baseline_offset_volts: 0.0,
            baseline_drift_volts_per_s: 0.0,
        }
    }
}

/// Register writes the log keeps (oldest dropped first).
pub const WRITE_LOG_CAPACITY: usize = 1 << 16;

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardFault {
    /// The next data lines are binary junk.
    Garbage,
    /// The next data lines carry five codes instead of eight.
    ShortReply,
    /// The next commands get no reply at all.
    Silence,
    /// The link fails from now on.
    Unplug,
}

impl std::str::FromStr for BoardFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "garbage" => Ok(BoardFault::Garbage),
            "short" => Ok(BoardFault::ShortReply),
            "silence" => Ok(BoardFault::Silence),
            "unplug" => Ok(BoardFault::Unplug),
            _ => Err(format!("fault {s:?} is not one of garbage, short, silence, unplug")),
        }
    }
}

/// The ground truth of one simulated measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleTruth {
    /// Middle of the averaging window (ns, CLOCK_MONOTONIC).
    pub t_mid_ns: i64,
    /// Averaging count.
    pub n_avg: u32,
    /// True probe position at the window's middle (mm).
    pub x_mm: f64,
    /// True probe position at the window's middle (mm).
    pub y_mm: f64,
    /// Noiseless channel volts (sensor frame, window average of the detection chain's output)
    /// before quantisation.
    pub volts: [f64; 6],
    /// The detection chain's true lag (ns): the low-pass' τ plus the ADC filter's group delay.
    pub lag_ns: i64,
}

#[derive(Debug, Default)]
struct Shared {
    garbage: u32,
    short: u32,
    silence: u32,
    unplugged: bool,
    reseed: Option<u64>,
    truth: VecDeque<SampleTruth>,
    writes: VecDeque<(u16, u16)>,
}

/// A cloneable handle on a simulated board: fault injection and ground truth, usable while a
/// link owns the board.
#[derive(Debug, Clone, Default)]
pub struct BoardSimHandle {
    shared: Arc<Mutex<Shared>>,
}

impl BoardSimHandle {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // every update is a plain assignment: a poisoned lock is still consistent
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Injects `fault` for the next `count` measurements (`Unplug` is permanent).
    pub fn inject(&self, fault: BoardFault, count: u32) {
        let mut s = self.lock();
        match fault {
            BoardFault::Garbage => s.garbage += count,
            BoardFault::ShortReply => s.short += count,
            BoardFault::Silence => s.silence += count,
            BoardFault::Unplug => s.unplugged = true,
        }
    }

    /// Plugs the board back in and clears pending faults.
    pub fn clear_faults(&self) {
        let mut s = self.lock();
        s.garbage = 0;
        s.short = 0;
        s.silence = 0;
        s.unplugged = false;
    }

    /// Restarts the noise generator from `seed` at the next measurement (a reproducible run
    /// on a board that is already open).
    pub fn reseed(&self, seed: u64) {
        self.lock().reseed = Some(seed);
    }

    /// Whether the board is unplugged.
    pub fn is_unplugged(&self) -> bool {
        self.lock().unplugged
    }

    /// The truth of the last `max` measurements (oldest first).
    pub fn truth(&self, max: usize) -> Vec<SampleTruth> {
        let s = self.lock();
        s.truth.iter().skip(s.truth.len().saturating_sub(max)).copied().collect()
    }

    /// Every register write accepted so far, (address, value), oldest first (bounded log).
    pub fn register_writes(&self) -> Vec<(u16, u16)> {
        self.lock().writes.iter().copied().collect()
    }

    /// Measurements made so far (bounded by the log capacity).
    pub fn measurements(&self) -> usize {
        self.lock().truth.len()
    }
}

/// The simulated board (device model, no I/O).
pub struct BoardModel {
    cfg: BoardSimConfig,
    registers: RegisterFile,
    probe: ProbeFn,
    rng: StdRng,
    handle: BoardSimHandle,
    calibration: Calibration,
    chain: DetectionChain,
    /// Instant of the first measurement (the drift's origin).
    t0_ns: Option<i64>,
    /// DDS1's power-up phase word (the phase the detection's references are set for).
    phase0: u16,
}

impl std::fmt::Debug for BoardModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardModel").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// A reply chunk and the instant its last byte reaches the host (ns).
pub type Chunk = (i64, Vec<u8>);

impl BoardModel {
    /// A board reading the field at `probe`.
    pub fn new(cfg: BoardSimConfig, probe: ProbeFn) -> Self {
        let calibration = Calibration { v_per_m_per_volt: V_PER_M_PER_VOLT, sensor_to_lab: cfg.sensor_to_lab };
        let registers = RegisterFile::default();
        Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            chain: DetectionChain::new(cfg.filter_tau_ms, registers.excitation()),
            cfg,
            registers,
            probe,
            handle: BoardSimHandle::default(),
            calibration,
            t0_ns: None,
            phase0: RegisterFile::default().get(addr::PHASE[0]),
        }
    }

    /// The handle for fault injection and truth.
    pub fn handle(&self) -> BoardSimHandle {
        self.handle.clone()
    }

    /// The settings.
    pub fn config(&self) -> &BoardSimConfig {
        &self.cfg
    }

    /// The register file (as configured through the protocol).
    pub fn registers(&self) -> &RegisterFile {
        &self.registers
    }

    /// Handles one command whose last byte arrived at `t_rx_ns`; returns the reply chunks.
    pub fn handle_command(&mut self, t_rx_ns: i64, command: Result<(Command, String), BoardProtocolError>) -> Vec<Chunk> {
        let timing = self.cfg.timing;
        let wire_timing = self.cfg.wire_timing;
        let wire = move |bytes: usize| if wire_timing { timing.wire_ns(bytes) } else { 0 };
        let (command, text) = match command {
            Ok(c) => c,
            Err(e) => {
                let line = format!("?CMD {}\r\n", sanitize(&e.to_string())).into_bytes();
                let t = t_rx_ns + if self.cfg.wire_timing { timing.reply_after_rx_ns(&Command::WriteData(0)) } else { 0 };
                return vec![(t + wire(line.len()), line)];
            }
        };
        if self.take_silence() {
            return Vec::new();
        }
        let after = if self.cfg.wire_timing { timing.reply_after_rx_ns(&command) } else { 0 };
        let excitation = self.registers.excitation();
        let refusal = match command {
            Command::SelectRegister(a) => self.registers.select(a).err(),
            Command::WriteData(v) => {
                let address = self.registers.selected();
                let refused = self.registers.write(v).err();
                if let (None, Some(a)) = (refused, address) {
                    let mut s = self.handle.lock();
                    if s.writes.len() == WRITE_LOG_CAPACITY {
                        s.writes.pop_front();
                    }
                    s.writes.push_back((a, v));
                }
                refused
            }
            Command::Measure(_) => None,
        };
        if self.registers.excitation() != excitation {
            self.chain.set_excitation(t_rx_ns, self.registers.excitation());
        }
        if let Some(r) = refusal {
            let line = format!("?{} {}\r\n", r.word(), text).into_bytes();
            return vec![(t_rx_ns + after + wire(line.len()), line)];
        }
        let mut ack = command.ack_line().into_bytes();
        ack.extend_from_slice(b"\r\n");
        let Command::Measure(n) = command else {
            return vec![(t_rx_ns + after + wire(ack.len()), ack)];
        };
        let t_ack = t_rx_ns + wire(ack.len());
        let data = self.measure(t_rx_ns, u32::from(n));
        let t_data = (t_rx_ns + after).max(t_ack) + wire(data.len());
        vec![(t_ack, ack), (t_data, data)]
    }

    fn take_silence(&mut self) -> bool {
        let mut s = self.handle.lock();
        if s.silence > 0 {
            s.silence -= 1;
            return true;
        }
        false
    }

    fn measure(&mut self, t_rx_ns: i64, n: u32) -> Vec<u8> {
        let timing = self.cfg.timing;
        let start = t_rx_ns + if self.cfg.wire_timing { timing.window_start_after_rx_ns() } else { 0 };
        let window = timing.window_ns(n);
        let points = n.min(WINDOW_POINTS);
        // no chain configured: the ideal detector of the simulator's default (no lag at all)
        let adc_delay_ns = if self.chain.tau_ns() > 0.0 { adc_group_delay_ns(self.registers.get(addr::CLK2)) } else { 0 };
        let (probe, map, calibration) = (&self.probe, &self.cfg.map, &self.calibration);
        let field = |t: i64| {
            let (x, y) = probe(t);
            sensor_volts(map, calibration, x, y)
        };
        let mut volts = [0.0; 6];
        for k in 0..points {
            // evenly spread over the window's conversions, symmetric about its middle; each
            // conversion holds the chain's output one ADC group delay earlier
            let t = start + ((f64::from(k) + 0.5) / f64::from(points) * window as f64).round() as i64;
            let v = self.chain.output(t - adc_delay_ns, &field);
            for c in 0..6 {
                volts[c] += v[c] / f64::from(points);
            }
        }
        let lag_ns = self.chain.tau_ns().round() as i64 + adc_delay_ns;
        // the excitation is in the chain's input (a gain change goes through its low-pass); a DDS1
        // phase change turns the references at once
        let turn = f64::from(self.registers.get(addr::PHASE[0]).wrapping_sub(self.phase0)) / 65_536.0 * std::f64::consts::TAU;
        if turn != 0.0 {
            let (sin, cos) = turn.sin_cos();
            for pair in volts.chunks_exact_mut(2) {
                let (i, q) = (pair[0], pair[1]);
                pair[0] = i * cos - q * sin;
                pair[1] = i * sin + q * cos;
            }
        }
        let t_mid = start + window / 2;
        let t0 = *self.t0_ns.get_or_insert(t_mid);
        let baseline = self.cfg.baseline_offset_volts + self.cfg.baseline_drift_volts_per_s * (t_mid - t0) as f64 * 1e-9;
        let (x_mm, y_mm) = (self.probe)(t_mid);
        if let Some(seed) = self.handle.lock().reseed.take() {
            self.rng = StdRng::seed_from_u64(seed);
        }
        let sigma = self.cfg.noise_volts / f64::from(n).sqrt();
        let scale = self.registers.adc_scale();
        let mut codes: RawCodes = [0; CODES_PER_LINE];
        for (i, code) in codes.iter_mut().enumerate() {
            let signal = if i < 6 { volts[i] + baseline } else { 0.0 };
            let noise: f64 = self.rng.sample(StandardNormal);
            *code = scale.volts_to_code(signal + sigma * noise, i);
        }
        let mut s = self.handle.lock();
        if s.truth.len() == TRUTH_LOG_CAPACITY {
            s.truth.pop_front();
        }
        s.truth.push_back(SampleTruth { t_mid_ns: t_mid, n_avg: n, x_mm, y_mm, volts, lag_ns });
        if s.garbage > 0 {
            s.garbage -= 1;
            return b"\x13\x88#\xfe@!\x07garbage\x00\r\n".to_vec();
        }
        if s.short > 0 {
            s.short -= 1;
            let mut line = format_codes(&codes);
            let cut = line.iter().enumerate().filter(|(_, &b)| b == b'\t').nth(4).map_or(line.len(), |(i, _)| i + 1);
            line.truncate(cut);
            line.extend_from_slice(b"\r\n");
            return line;
        }
        format_codes(&codes)
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '.' }).take(60).collect()
}

/// The byte interface of a simulated board: commands in, timed reply bytes out.
#[derive(Debug)]
pub struct BoardSimPort {
    model: BoardModel,
    framer: CommandFramer,
    queue: VecDeque<Chunk>,
    lost_commands: u64,
}

/// Reply chunks a board holds for a host that floods it with commands (two per measurement).
pub const MAX_QUEUED_CHUNKS: usize = 256;

/// The simulated board was unplugged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the simulated board was unplugged")]
pub struct Unplugged;

impl BoardSimPort {
    /// A port on `model`.
    pub fn new(model: BoardModel) -> Self {
        Self { model, framer: CommandFramer::new(), queue: VecDeque::new(), lost_commands: 0 }
    }

    /// The model's handle.
    pub fn handle(&self) -> BoardSimHandle {
        self.model.handle()
    }

    /// The model.
    pub fn model(&self) -> &BoardModel {
        &self.model
    }

    /// Bytes written by the host at `now_ns`.
    ///
    /// # Errors
    /// [`Unplugged`] once the `unplug` fault is injected.
    pub fn write(&mut self, bytes: &[u8], now_ns: i64) -> Result<(), Unplugged> {
        if self.model.handle.is_unplugged() {
            return Err(Unplugged);
        }
        let wire = if self.model.cfg.wire_timing { self.model.cfg.timing.wire_ns(bytes.len()) } else { 0 };
        self.framer.push(bytes);
        while let Some(cmd) = self.framer.next_command() {
            // The MCU answers one command at a time: a flood beyond its backlog is lost, as
            // bytes past a full receive buffer are (the host's driver times out and resyncs).
            if self.queue.len() >= MAX_QUEUED_CHUNKS {
                self.lost_commands += 1;
                continue;
            }
            let chunks = self.model.handle_command(now_ns + wire, cmd);
            self.queue.extend(chunks);
        }
        Ok(())
    }

    /// Moves the bytes released by `now_ns` into `out`; returns how many.
    ///
    /// # Errors
    /// [`Unplugged`] once the `unplug` fault is injected.
    pub fn read_ready(&mut self, now_ns: i64, out: &mut Vec<u8>) -> Result<usize, Unplugged> {
        if self.model.handle.is_unplugged() {
            self.queue.clear();
            return Err(Unplugged);
        }
        let mut n = 0;
        while self.queue.front().is_some_and(|(t, _)| *t <= now_ns) {
            if let Some((_, bytes)) = self.queue.pop_front() {
                n += bytes.len();
                out.extend_from_slice(&bytes);
            }
        }
        Ok(n)
    }

    /// Commands lost because too many replies were waiting (a flood).
    pub fn lost_commands(&self) -> u64 {
        self.lost_commands
    }

    /// Reply chunks waiting to be released.
    pub fn queued_chunks(&self) -> usize {
        self.queue.len()
    }

    /// When the next queued chunk is released, if any.
    pub fn next_release_ns(&self) -> Option<i64> {
        self.queue.front().map(|(t, _)| *t)
    }

    /// Sets the reply pacing (`true`: the board's timing; `false`: at once).
    pub fn set_wire_timing(&mut self, wire: bool) {
        self.model.cfg.wire_timing = wire;
    }

    /// Drops queued replies (the host flushed its input).
    pub fn discard_pending(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aefi_scan_engine::board::convert::AdcScale;
    use aefi_scan_engine::board::protocol::{check_ack, parse_codes, AckCheck, LineFramer};

    fn port(wire: bool, probe: ProbeFn) -> BoardSimPort {
        let cfg = BoardSimConfig { wire_timing: wire, ..Default::default() };
        BoardSimPort::new(BoardModel::new(cfg, probe))
    }

    fn lines(port: &mut BoardSimPort, now: i64) -> Vec<String> {
        let mut out = Vec::new();
        port.read_ready(now, &mut out).unwrap();
        let mut f = LineFramer::new();
        f.push(&out);
        std::iter::from_fn(|| f.next_line().ok().flatten()).collect()
    }

    #[test]
    fn measurement_reads_field_at_probe() {
        let map = FieldMap::aefi_default();
        let f = map.features[0];
        let mut p = port(false, static_probe(f.x_mm, f.y_mm));
        p.write(b"m100*", 0).unwrap();
        let l = lines(&mut p, 0);
        assert_eq!(l.len(), 2);
        check_ack(&Command::Measure(100), &l[0], AckCheck::Echo).unwrap();
        let volts = AdcScale::default().channels_volts(&parse_codes(&l[1]).unwrap());
        let truth = map.volts(f.x_mm, f.y_mm);
        for c in 0..6 {
            assert!((volts[c] - truth[c]).abs() < 5e-4, "ch{c}: {} vs {}", volts[c], truth[c]);
        }
    }

    #[test]
    fn noise_shrinks_with_sqrt_n() {
        let mut p = port(false, static_probe(500.0, 500.0));
        let mut spread = |n: u32| {
            let vals: Vec<f64> = (0..400)
                .map(|_| {
                    p.write(format!("m{n}*").as_bytes(), 0).unwrap();
                    let l = lines(&mut p, 0);
                    AdcScale::default().code_to_volts(parse_codes(&l[1]).unwrap()[6], 6)
                })
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt()
        };
        let (s1, s100) = (spread(1), spread(100));
        assert!((s1 / DEFAULT_NOISE_VOLTS - 1.0).abs() < 0.15, "{s1}");
        assert!((s1 / s100 - 10.0).abs() < 1.5, "{s1} / {s100}");
    }

    #[test]
    fn reseeding_repeats_the_noise() {
        let mut p = port(false, static_probe(500.0, 500.0));
        let codes = |p: &mut BoardSimPort| {
            (0..5)
                .map(|_| {
                    p.write(b"m1*", 0).unwrap();
                    parse_codes(&lines(p, 0)[1]).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let h = p.handle();
        h.reseed(42);
        let first = codes(&mut p);
        let other = codes(&mut p);
        h.reseed(42);
        assert_eq!(codes(&mut p), first);
        assert_ne!(other, first);
    }

    #[test]
    fn replies_are_timed_like_the_board() {
        let mut p = port(true, static_probe(0.0, 0.0));
        let t = p.model().config().timing;
        p.write(b"m127*", 1_000).unwrap();
        let release = p.next_release_ns().unwrap();
        assert_eq!(release, 1_000 + t.wire_ns(5) + t.wire_ns(9), "ack right after the command");
        assert_eq!(lines(&mut p, release).len(), 1);
        let data_at = p.next_release_ns().unwrap();
        let rt = data_at - 1_000;
        assert!(lines(&mut p, data_at - 1).is_empty());
        let data = lines(&mut p, data_at);
        let expected = t.round_trip_ns(127, data[0].len() + 2);
        assert_eq!(rt, expected);
        assert!(rt > 40_000_000 && rt < 43_000_000, "{rt}");
        let truth = p.handle().truth(1)[0];
        assert_eq!(truth.t_mid_ns, 1_000 + t.wire_ns(5) + t.window_start_after_rx_ns() + t.window_ns(127) / 2);
    }

    #[test]
    fn probe_truth_at_window_middle() {
        // probe moving at 100 mm/s along x
        let probe: ProbeFn = Arc::new(|t| (t as f64 * 1e-7, 0.0));
        let mut p = port(true, probe);
        p.write(b"m50*", 0).unwrap();
        let tr = p.handle().truth(1)[0];
        assert!((tr.x_mm - tr.t_mid_ns as f64 * 1e-7).abs() < 1e-9);
    }

    fn chain_port(tau_ms: f64, map: FieldMap, probe: ProbeFn) -> BoardSimPort {
        let cfg = BoardSimConfig { wire_timing: false, noise_volts: 0.0, filter_tau_ms: tau_ms, map, ..Default::default() };
        BoardSimPort::new(BoardModel::new(cfg, probe))
    }

    fn z_in_phase(p: &mut BoardSimPort, t_ns: i64) -> f64 {
        p.write(b"m1*", t_ns).unwrap();
        AdcScale::default().channels_volts(&parse_codes(&lines(p, t_ns)[1]).unwrap())[4]
    }

    #[test]
    fn the_chain_lags_a_moving_probe_by_tau_plus_the_adc_delay() {
        // a field of 0.05 V per mm along x (z in-phase), the probe at 30 mm/s: the reading is the
        // field where the probe was one lag earlier
        let map = FieldMap { features: vec![], background_v_per_m_per_mm: (0.05 / crate::field::VOLTS_PER_V_PER_M, 0.0) };
        let probe: ProbeFn = Arc::new(|t| (30.0 * t as f64 * 1e-9, 0.0));
        let mut p = chain_port(20.0, map, probe);
        let lag_ns = 20_000_000 + crate::detection::adc_group_delay_ns(32);
        for k in 0..20 {
            let t = 1_000_000_000 + k * 11_500_000;
            let v = z_in_phase(&mut p, t);
            let truth = p.handle().truth(1)[0];
            assert_eq!(truth.lag_ns, lag_ns);
            let expected = 0.05 * 30.0 * (truth.t_mid_ns - lag_ns) as f64 * 1e-9;
            // one code is 0.29 µV; the restart 12 τ back leaves e^−12 of the lag (0.1 µV)
            assert!((v - expected).abs() < 2e-6, "sample {k}: {v} V vs {expected} V");
            assert!((truth.x_mm - 30.0 * truth.t_mid_ns as f64 * 1e-9).abs() < 1e-9, "truth at the window middle");
        }
    }

    #[test]
    fn muting_the_sources_decays_with_the_same_filter() {
        let tau_ms = 20.0;
        let map = FieldMap::aefi_default();
        let f = map.features[0];
        let mut p = chain_port(tau_ms, map, static_probe(f.x_mm, f.y_mm));
        let (t0, half_window) = (1_000_000_000_i64, p.model().config().timing.window_ns(1) / 2);
        let on = z_in_phase(&mut p, t0);
        assert!(on > 0.5, "{on}");
        let t_mute = t0 + 50_000_000;
        p.write(b"a53*d0*a52*d0*", t_mute).unwrap();
        let _ = lines(&mut p, t_mute);
        let delay = crate::detection::adc_group_delay_ns(32);
        for k in 1..=4 {
            let t = t_mute + k * 15_000_000;
            let elapsed_ms = (t + half_window - delay - t_mute) as f64 * 1e-6;
            let expected = on * (-elapsed_ms / tau_ms).exp();
            let v = z_in_phase(&mut p, t);
            assert!((v - expected).abs() < 2e-6, "{elapsed_ms} ms after the mute: {v} vs {expected}");
        }
        let t_unmute = t_mute + 1_000_000_000;
        p.write(b"a53*d10000*a52*d10000*", t_unmute).unwrap();
        let _ = lines(&mut p, t_unmute);
        let t = t_unmute + 30_000_000;
        let elapsed_ms = (t + half_window - delay - t_unmute) as f64 * 1e-6;
        let v = z_in_phase(&mut p, t);
        let expected = on * (1.0 - (-elapsed_ms / tau_ms).exp());
        assert!((v - expected).abs() < 2e-6, "rising again: {v} vs {expected}");
    }

    #[test]
    fn filter_option_is_checked() {
        let mut cfg = BoardSimConfig::default();
        cfg.apply_option("filter_tau_ms", "20").unwrap();
        assert_eq!(cfg.filter_tau_ms, 20.0);
        assert!(cfg.apply_option("filter_tau_ms", "-1").unwrap_err().contains("filter_tau_ms"));
        assert!(cfg.apply_option("filter_tau_ms", "abc").is_err());
        assert!(cfg.apply_option("tau", "1").unwrap_err().contains("filter_tau_ms"));
    }

    #[test]
    fn registers_refusals_and_adc_gain() {
        let mut p = port(false, static_probe(38.0, 32.0));
        p.write(b"a999*d1*a17*d9*x*", 0).unwrap();
        let l = lines(&mut p, 0);
        assert_eq!(l, vec!["?ADDR a999*", "?NOADDR d1*", "a17*OK", "?RANGE d9*", "?CMD unknown command \"x\""]);
        p.write(b"m10*", 0).unwrap();
        let c1 = parse_codes(&lines(&mut p, 0)[1]).unwrap();
        p.write(b"a21*", 0).unwrap();
        p.write(b"a19*d1*", 0).unwrap(); // ADC3 (code 2 and 6) gain 2
        let _ = lines(&mut p, 0);
        p.write(b"m10*", 0).unwrap();
        let c2 = parse_codes(&lines(&mut p, 0)[1]).unwrap();
        assert!((f64::from(c2[2]) / f64::from(c1[2]) - 2.0).abs() < 0.01, "{c1:?} {c2:?}");
        assert_eq!(p.model().registers().adc_scale().gains, [1, 1, 2, 1]);
    }

    #[test]
    fn a_flood_is_bounded_and_the_board_answers_after_it() {
        let mut p = port(true, static_probe(38.0, 32.0));
        let mut flood = b"m255*".repeat(100_000);
        flood.extend((0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        flood.extend(vec![b'7'; 1 << 20]);
        for chunk in flood.chunks(4096) {
            p.write(chunk, 0).unwrap();
            assert!(p.queued_chunks() <= MAX_QUEUED_CHUNKS);
        }
        assert!(p.lost_commands() > 0);
        // the host gives up on what it sent, reads everything out, and starts again: one `*` ends
        // whatever half command the flood left
        let mut sink = Vec::new();
        p.read_ready(i64::MAX, &mut sink).unwrap();
        assert!(sink.len() < 256 * 100, "{} bytes queued", sink.len());
        p.write(b"*", 0).unwrap();
        p.read_ready(i64::MAX, &mut sink).unwrap();
        p.write(b"a17*", 0).unwrap();
        assert_eq!(lines(&mut p, i64::MAX), vec!["a17*OK"]);
    }

    #[test]
    fn muted_board_reads_offset_and_drift_and_logs_only_accepted_writes() {
        let cfg = BoardSimConfig {
            wire_timing: false,
            noise_volts: 0.0,
            baseline_offset_volts: 0.01,
            baseline_drift_volts_per_s: 0.001,
            ..Default::default()
        };
        let mut p = BoardSimPort::new(BoardModel::new(cfg, static_probe(38.0, 32.0)));
        p.write(b"a53*d0*a52*d0*a17*d9*", 0).unwrap();
        let _ = lines(&mut p, 0);
        assert_eq!(p.handle().register_writes(), vec![(53, 0), (52, 0)], "the refused value wrote nothing");
        let volts = |p: &mut BoardSimPort, t: i64| {
            p.write(b"m1*", t).unwrap();
            let codes = parse_codes(&lines(p, t)[1]).unwrap();
            let scale = p.model().registers().adc_scale();
            (0..6).map(|i| scale.code_to_volts(codes[i], i)).collect::<Vec<_>>()
        };
        let first = volts(&mut p, 0);
        let later = volts(&mut p, 2_000_000_000); // 2 s later: 2 mV of drift
        for (a, b) in first.iter().zip(&later) {
            assert!((a - 0.01).abs() < 1e-6 && (b - 0.012).abs() < 1e-6, "{first:?} {later:?}");
        }
        let bad = BoardSimConfig::default().with_url_options([("board_offset_uv", "x")]);
        assert!(bad.unwrap_err().contains("board_offset_uv"));
        let ok = BoardSimConfig::default().with_url_options([("baud", "9600"), ("board_drift_uv_per_s", "5")]).unwrap();
        assert!((ok.baseline_drift_volts_per_s - 5e-6).abs() < 1e-15);
    }

    #[test]
    fn faults() {
        let mut p = port(false, static_probe(0.0, 0.0));
        let h = p.handle();
        h.inject(BoardFault::Garbage, 1);
        p.write(b"m1*", 0).unwrap();
        let mut raw = Vec::new();
        p.read_ready(0, &mut raw).unwrap();
        let mut f = LineFramer::new();
        f.push(&raw);
        assert_eq!(f.next_line().unwrap().as_deref(), Some("m1*OK"));
        assert!(f.next_line().is_err());
        h.inject(BoardFault::ShortReply, 1);
        p.write(b"m1*", 0).unwrap();
        let l = lines(&mut p, 0);
        assert!(matches!(parse_codes(&l[1]), Err(BoardProtocolError::TooFewCodes { got: 5, .. })));
        h.inject(BoardFault::Silence, 1);
        p.write(b"m1*", 0).unwrap();
        assert!(lines(&mut p, i64::MAX).is_empty());
        p.write(b"m1*", 0).unwrap();
        assert_eq!(lines(&mut p, 0).len(), 2, "silence lasts one command");
        h.inject(BoardFault::Unplug, 1);
        assert_eq!(p.write(b"m1*", 0), Err(Unplugged));
        h.clear_faults();
        assert!(p.write(b"m1*", 0).is_ok());
    }
}
