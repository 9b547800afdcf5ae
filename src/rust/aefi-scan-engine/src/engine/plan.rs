//! The flyscan plan (docs/architecture.md "Flyscan plan") and its validation.
//!
//! A plan is checked against the controller's speed settings and the soft travel limits before
//! anything moves. Every refusal is a [`PlanError`] naming the plan field and the allowed range,
//! so the Python side can raise `PlanError(.field)`. Validation also computes the run-up and
//! run-out from the acceleration so that every sample of a line falls in the constant-speed part.

/// Stage travel per Arcus pulse on the AEFI bench (µm): TB6600 drivers at 1/16 microstep on a
/// 69.76 mm/turn drive. The one definition; Python reads it as `_engine.BENCH_STEP_UM`.
pub const BENCH_STEP_UM: f64 = 21.8;

/// One of the controller's four axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Axis X (index 0).
    X,
    /// Axis Y (index 1).
    Y,
    /// Axis Z (index 2).
    Z,
    /// Axis U (index 3).
    U,
}

impl Axis {
    /// All axes in controller order.
    pub const ALL: [Axis; 4] = [Axis::X, Axis::Y, Axis::Z, Axis::U];

    /// The axis letter as the controller spells it.
    pub fn letter(self) -> char {
        match self {
            Axis::X => 'X',
            Axis::Y => 'Y',
            Axis::Z => 'Z',
            Axis::U => 'U',
        }
    }

    /// Parses `"X"`…`"U"` (upper case only, as the controller does).
    pub fn parse(s: &str) -> Option<Axis> {
        Axis::ALL.into_iter().find(|a| s.len() == 1 && s.starts_with(a.letter()))
    }
}

/// Line order of a raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Every other line flies back (no return move).
    Serpentine,
    /// Every line flies in the same direction (a return move between lines).
    Unidirectional,
}

/// Who gives the six channels of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    /// The virtual AEFI probe: the known field map at the true simulator position.
    VirtualProbe,
    /// The AEFI acquisition board.
    Board,
    /// No detector: positions only (channels NaN).
    None,
    /// Samples fed from outside (a Python DAQ adapter).
    External,
}

/// What times the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerMode {
    /// Absolute deadline schedule at `sample_rate_hz` on the real-time thread.
    Software,
    /// The detector is read back to back; each sample stamped when taken.
    Continuous,
    /// An external sample clock at `sample_rate_hz`; the engine stamps the start edge.
    Hardware,
}

/// How a detector is paced: what times its samples, and so what the scan's figures mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cadence {
    /// The engine triggers each sample on an absolute deadline schedule (the virtual probe, a DAQ
    /// started by software): lateness and missed deadlines are counted against the schedule.
    Triggered {
        /// Trigger rate (Hz).
        rate_hz: f64,
    },
    /// The detector samples back to back at its own pace and stamps each sample (the board:
    /// its rate is set by its averaging and its timing model). No schedule, no missed triggers.
    BackToBack,
    /// An external sample clock times the samples (a DAQ); the engine reads them as they come.
    HardwareClocked {
        /// Sample clock rate (Hz).
        rate_hz: f64,
    },
}

impl Cadence {
    /// The contract's name of the cadence (stats `cadence`).
    pub fn name(self) -> &'static str {
        match self {
            Cadence::Triggered { .. } => "triggered",
            Cadence::BackToBack => "back_to_back",
            Cadence::HardwareClocked { .. } => "hardware_clocked",
        }
    }

    /// Whether the engine keeps a trigger schedule (lateness and missed triggers mean something).
    pub fn has_trigger_schedule(self) -> bool {
        matches!(self, Cadence::Triggered { .. })
    }
}

impl DetectorKind {
    /// How this detector is paced under `trigger` at `rate_hz`. The board is always read back
    /// to back (one serial transaction after the other); the others follow the trigger mode.
    pub fn cadence(self, trigger: TriggerMode, rate_hz: f64) -> Cadence {
        match (self, trigger) {
            (DetectorKind::Board, _) | (_, TriggerMode::Continuous) => Cadence::BackToBack,
            (_, TriggerMode::Software) => Cadence::Triggered { rate_hz },
            (_, TriggerMode::Hardware) => Cadence::HardwareClocked { rate_hz },
        }
    }
}

/// A flyscan plan, positions in steps (Arcus pulses). Field meanings: docs/architecture.md.
#[derive(Debug, Clone, PartialEq)]
pub struct FlyPlan {
    /// Flown axis.
    pub fast_axis: Axis,
    /// Stepped axis (None: one line at the current position of nothing).
    pub slow_axis: Option<Axis>,
    /// First sampled fast position of an even line (steps).
    pub fast_start_steps: i64,
    /// Last sampled fast position of an even line (steps).
    pub fast_stop_steps: i64,
    /// First slow position (steps).
    pub slow_start_steps: i64,
    /// Last slow position (steps).
    pub slow_stop_steps: i64,
    /// Number of lines.
    pub lines: u32,
    /// Line order.
    pub pattern: Pattern,
    /// Fly speed of the fast axis (pulses/s).
    pub speed_pps: f64,
    /// Detector.
    pub detector: DetectorKind,
    /// Trigger mode.
    pub trigger: TriggerMode,
    /// Software/hardware trigger rate (Hz).
    pub sample_rate_hz: f64,
    /// MCU averaging per board sample.
    pub board_n_avg: u32,
    /// Soft travel limit, low side (steps).
    pub travel_min_steps: i64,
    /// Soft travel limit, high side (steps).
    pub travel_max_steps: i64,
    /// Wait after each slow-axis step (ms).
    pub settle_ms: f64,
    /// Records the SPSC ring holds.
    pub ring_capacity: usize,
    /// Try SCHED_FIFO and a pinned core for the trigger thread.
    pub realtime: bool,
    /// Stage step size (µm per pulse), used by the virtual probe to read the field map in mm.
    pub step_um: f64,
    /// RMS noise (V) the virtual probe adds to each channel.
    pub probe_noise_volts: f64,
    /// Seed of the simulated noise (virtual probe, simulated board): the same seed gives the
    /// same noise sequence. None: a fresh seed per scan.
    pub seed: Option<u64>,
    /// Encoder counts per pulse of the fast axis (0: no encoder). With an encoder, every poll of
    /// the fast axis reads `E` beside `P` and checks that no step was lost ([`super::encoder`]).
    pub encoder_counts_per_step: f64,
    /// Gap between the pulse counter and the encoder (pulses) beyond which the scan stops, failed.
    pub encoder_max_slip_steps: f64,
    /// Differential scan: every line is flown twice at its slow position, excited then with the
    /// excitation muted (the baseline), the board's DDS1/DDS2 gains written to 0 and back.
    pub differential: bool,
    /// Wait after each mute and unmute before the next line's samples (ms).
    pub excitation_settle_ms: f64,
    /// The DDS1/DDS2 gain words an unmute writes back when the board's driver was never configured
    /// in this session (a configured driver knows the words it wrote).
    pub excitation_gains: [u16; 2],
}

/// Settle time after a mute or an unmute of the excitation, by default (ms): the bench's own
/// differential step scans use 50 ms (not yet validated on the bench).
pub const DEFAULT_EXCITATION_SETTLE_MS: f64 = 50.0;

impl FlyPlan {
    /// The detector's cadence under this plan.
    pub fn cadence(&self) -> Cadence {
        self.detector.cadence(self.trigger, self.sample_rate_hz)
    }

    /// Lines flown: two per map line in a differential scan (excited, then baseline).
    pub fn flights(&self) -> u32 {
        if self.differential {
            self.lines.saturating_mul(2)
        } else {
            self.lines
        }
    }
}

impl Default for FlyPlan {
    fn default() -> Self {
        Self {
            fast_axis: Axis::X,
            slow_axis: Some(Axis::Y),
            fast_start_steps: 0,
            fast_stop_steps: 1000,
            slow_start_steps: 0,
            slow_stop_steps: 0,
            lines: 1,
            pattern: Pattern::Serpentine,
            speed_pps: 1000.0,
            detector: DetectorKind::VirtualProbe,
            trigger: TriggerMode::Software,
            sample_rate_hz: 1000.0,
            board_n_avg: 1,
            travel_min_steps: -(1 << 30),
            travel_max_steps: 1 << 30,
            settle_ms: 0.0,
            ring_capacity: DEFAULT_RING_CAPACITY,
            realtime: true,
            step_um: BENCH_STEP_UM,
            probe_noise_volts: 0.0,
            seed: None,
            encoder_counts_per_step: 0.0,
            encoder_max_slip_steps: super::encoder::DEFAULT_MAX_SLIP_STEPS,
            differential: false,
            excitation_settle_ms: DEFAULT_EXCITATION_SETTLE_MS,
            excitation_gains: [10_000, 10_000],
        }
    }
}

/// Default ring size (records).
pub const DEFAULT_RING_CAPACITY: usize = 1 << 20;
/// Largest ring accepted (records; 96 bytes each: 12 GiB would be absurd, 6 GiB is the cap).
pub const MAX_RING_CAPACITY: usize = 1 << 26;
/// Highest software trigger rate accepted (Hz).
pub const MAX_SAMPLE_RATE_HZ: f64 = 200_000.0;
/// Extra run-up/run-out beyond the ramp, in seconds at fly speed: room for the position model
/// to see cruise polls on both sides of the sampled span.
pub const RUN_MARGIN_S: f64 = 0.02;

/// A plan refused before any motion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan field `{field}`: {message}")]
pub struct PlanError {
    /// The plan key that was refused.
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl PlanError {
    /// A refusal of `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_string(), message: message.into() }
    }
}

/// The fast axis' speed settings as the controller will apply them to the fly move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisSpeeds {
    /// Start/stop speed LS (pps).
    pub ls_pps: f64,
    /// High speed HS (pps): the bench's maximum; the fly speed must not exceed it.
    pub hs_pps: f64,
    /// Time from LS to HS (ms).
    pub acc_ms: f64,
    /// Time from HS to LS (ms): DEC, or ACC when the controller decelerates with ACC (EDEC=0).
    pub dec_ms: f64,
}

/// One line of the validated plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSpec {
    /// Line index (0-based, in flight order).
    pub index: u32,
    /// Slow-axis position of the line (steps).
    pub slow_steps: i64,
    /// First sampled fast position (steps).
    pub span_from_steps: i64,
    /// Last sampled fast position (steps).
    pub span_to_steps: i64,
    /// Where the fast axis starts (run-up included).
    pub runup_start_steps: i64,
    /// Where the fly move ends (run-out included).
    pub runout_end_steps: i64,
    /// Flown with the excitation muted (a differential scan's baseline line).
    pub baseline: bool,
}

impl LineSpec {
    /// +1 when the line flies towards larger positions, -1 otherwise.
    pub fn direction(&self) -> f64 {
        if self.span_to_steps >= self.span_from_steps {
            1.0
        } else {
            -1.0
        }
    }
}

/// A plan checked against the controller, with its lines laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedPlan {
    /// The plan as given.
    pub plan: FlyPlan,
    /// The fast axis' speed settings used for the fly moves (HS replaced by the fly speed).
    pub fly_speeds: AxisSpeeds,
    /// Run-up distance before the span (steps).
    pub runup_steps: i64,
    /// Run-out distance after the span (steps).
    pub runout_steps: i64,
    /// Lines in flight order.
    pub lines: Vec<LineSpec>,
}

fn finite_in(field: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<(), PlanError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(PlanError::new(field, format!("{v} is outside the allowed range {lo}..={hi} {unit}")))
    }
}

/// Slow positions: linspace(start, stop, lines), rounded to whole steps.
pub fn slow_positions(start: i64, stop: i64, lines: u32) -> Vec<i64> {
    if lines <= 1 {
        return vec![start];
    }
    let n = f64::from(lines - 1);
    (0..lines).map(|i| (start as f64 + (stop - start) as f64 * f64::from(i) / n).round() as i64).collect()
}

/// Which end of a fly line needs room beyond the sampled span.
#[derive(Debug, Clone, Copy)]
enum RunSide {
    /// Before the first sample: the acceleration ramp and margin.
    Up,
    /// After the last sample: the deceleration ramp and margin.
    Out,
}

impl RunSide {
    fn name(self) -> &'static str {
        match self {
            RunSide::Up => "run-up",
            RunSide::Out => "run-out",
        }
    }
}

/// The nearest value a refused position may take (steps).
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// The position must be at least this.
    AtLeast(i64),
    /// The position must be at most this.
    AtMost(i64),
}

impl Bound {
    /// "≥ 5.65 mm (259 steps at 21.8 µm/step)": the millimetres a user types, rounded towards the valid
    /// side at 0.01 mm so that the value shown is itself accepted.
    fn describe(self, step_mm: f64, step_um: f64) -> String {
        let (sign, steps, mm) = match self {
            Bound::AtLeast(steps) => ("≥", steps, (steps as f64 * step_mm * 100.0 - 1e-6).ceil() / 100.0),
            Bound::AtMost(steps) => ("≤", steps, (steps as f64 * step_mm * 100.0 + 1e-6).floor() / 100.0),
        };
        format!("{sign} {} mm ({steps} steps at {} µm/step)", mm_text(mm), mm_text(step_um))
    }
}

/// A length or speed for a message: at most two decimals, no trailing zeros ("5.65", "32.7", "0").
fn mm_text(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Checks `plan` against the fast axis' controller speeds and lays out its lines.
///
/// # Errors
/// A [`PlanError`] naming the first refused field, with the allowed range.
///
/// ```
/// use aefi_scan_engine::engine::plan::{validate, AxisSpeeds, FlyPlan};
/// let speeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 1500.0, acc_ms: 300.0, dec_ms: 300.0 };
/// let plan = FlyPlan { speed_pps: 2000.0, ..FlyPlan::default() };
/// assert_eq!(validate(&plan, &speeds).unwrap_err().field, "speed_pps");
/// ```
pub fn validate(plan: &FlyPlan, speeds: &AxisSpeeds) -> Result<ValidatedPlan, PlanError> {
    if plan.slow_axis == Some(plan.fast_axis) {
        return Err(PlanError::new("slow_axis", "must differ from fast_axis"));
    }
    if plan.lines == 0 || plan.lines > 100_000 {
        return Err(PlanError::new("lines", format!("{} is outside 1..=100000", plan.lines)));
    }
    if plan.slow_axis.is_none() && plan.lines != 1 {
        return Err(PlanError::new("lines", "must be 1 when there is no slow_axis"));
    }
    if plan.fast_start_steps == plan.fast_stop_steps {
        return Err(PlanError::new("fast_stop_steps", "must differ from fast_start_steps (an empty span)"));
    }
    if plan.travel_min_steps >= plan.travel_max_steps {
        return Err(PlanError::new("travel_max_steps", "must be greater than travel_min_steps"));
    }
    let lo_speed = speeds.ls_pps.max(1.0);
    // a relative 1e-9 tolerance on HS: 32.7 mm/s at 21.8 µm/step is 1500.0000000000002 pps in
    // floating point, i.e. exactly the bench's HS
    if !(plan.speed_pps.is_finite() && plan.speed_pps > lo_speed && plan.speed_pps <= speeds.hs_pps * (1.0 + 1e-9)) {
        return Err(PlanError::new(
            "speed_pps",
            format!(
                "{} pps is outside the controller's range: above LS ({} pps) and at most HS ({} pps)",
                plan.speed_pps, speeds.ls_pps, speeds.hs_pps
            ),
        ));
    }
    if plan.detector == DetectorKind::Board && plan.trigger != TriggerMode::Continuous {
        return Err(PlanError::new(
            "trigger",
            "the board is read back to back at its own pace, so no trigger rate applies: its rate is set by \
             board_n_avg (the board's timing model: ~87 Hz at 1 average, ~24 Hz at 127); use trigger \"continuous\"",
        ));
    }
    if plan.trigger != TriggerMode::Continuous {
        finite_in("sample_rate_hz", plan.sample_rate_hz, 1e-3, MAX_SAMPLE_RATE_HZ, "Hz")?;
    }
    let n_avg_max = u32::from(crate::board::protocol::N_AVG_MAX);
    if plan.board_n_avg == 0 || plan.board_n_avg > n_avg_max {
        return Err(PlanError::new(
            "board_n_avg",
            format!("{} is outside 1..={n_avg_max} (MCU averages per board sample)", plan.board_n_avg),
        ));
    }
    finite_in("settle_ms", plan.settle_ms, 0.0, 60_000.0, "ms")?;
    finite_in("excitation_settle_ms", plan.excitation_settle_ms, 0.0, 10_000.0, "ms")?;
    if plan.differential && plan.detector != DetectorKind::Board {
        return Err(PlanError::new("differential", "needs the board detector: its DDS1/DDS2 gains mute the excitation"));
    }
    if plan.excitation_gains.iter().any(|&g| g > crate::board::registers::DDS_GAIN_MAX) {
        return Err(PlanError::new(
            "excitation_gains",
            format!("{:?} is outside 0..={} (AD9106 gain words)", plan.excitation_gains, crate::board::registers::DDS_GAIN_MAX),
        ));
    }
    finite_in("step_um", plan.step_um, 1e-3, 1e4, "µm")?;
    finite_in("probe_noise_volts", plan.probe_noise_volts, 0.0, 10.0, "V")?;
    finite_in("encoder_counts_per_step", plan.encoder_counts_per_step, 0.0, 1000.0, "counts per pulse")?;
    finite_in("encoder_max_slip_steps", plan.encoder_max_slip_steps, 0.5, 1e9, "steps")?;
    if plan.ring_capacity < 1024 || plan.ring_capacity > MAX_RING_CAPACITY {
        return Err(PlanError::new("ring_capacity", format!("{} is outside 1024..={MAX_RING_CAPACITY} records", plan.ring_capacity)));
    }
    for (field, v) in [("acc_ms", speeds.acc_ms), ("dec_ms", speeds.dec_ms)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(PlanError::new("speed_pps", format!("the controller reports {field} = {v}")));
        }
    }
    // The controller runs whole pulse rates.
    let v = plan.speed_pps.round().max(1.0);
    let fly = AxisSpeeds { hs_pps: v, ..*speeds };
    // Arcus ramps are linear in speed from LS to HS over ACC ms: the distance is the mean speed
    // times the ramp time.
    let margin = v * RUN_MARGIN_S + 2.0;
    let runup = ((fly.ls_pps + v) / 2.0 * fly.acc_ms * 1e-3 + margin).ceil() as i64;
    let runout = ((fly.ls_pps + v) / 2.0 * fly.dec_ms * 1e-3 + margin).ceil() as i64;

    let slows = slow_positions(plan.slow_start_steps, plan.slow_stop_steps, plan.lines);
    // A differential scan flies each slow position twice, excited then muted: the baseline is
    // taken a line's time after the signal it is subtracted from (drift), and a serpentine flies
    // it back over the same span without a slow step or a return move.
    let flights: Vec<(i64, bool)> =
        slows.iter().flat_map(|&s| if plan.differential { vec![(s, false), (s, true)] } else { vec![(s, false)] }).collect();
    let mut lines = Vec::with_capacity(flights.len());
    for (i, &(slow, baseline)) in flights.iter().enumerate() {
        let reversed = plan.pattern == Pattern::Serpentine && i % 2 == 1;
        let (from, to) =
            if reversed { (plan.fast_stop_steps, plan.fast_start_steps) } else { (plan.fast_start_steps, plan.fast_stop_steps) };
        let dir = if to > from { 1 } else { -1 };
        lines.push(LineSpec {
            index: i as u32,
            slow_steps: slow,
            span_from_steps: from,
            span_to_steps: to,
            runup_start_steps: from - dir * runup,
            runout_end_steps: to + dir * runout,
            baseline,
        });
    }
    let (tmin, tmax) = (plan.travel_min_steps, plan.travel_max_steps);
    let step_mm = plan.step_um * 1e-3;
    for l in &lines {
        let from_field = if l.span_from_steps == plan.fast_start_steps { "fast_start_steps" } else { "fast_stop_steps" };
        let to_field = if l.span_to_steps == plan.fast_stop_steps { "fast_stop_steps" } else { "fast_start_steps" };
        for (field, run, span_end, reach) in [
            (from_field, RunSide::Up, l.span_from_steps, l.runup_start_steps),
            (to_field, RunSide::Out, l.span_to_steps, l.runout_end_steps),
        ] {
            if reach < tmin || reach > tmax {
                let distance = (reach - span_end).abs();
                let bound = if reach < tmin { Bound::AtLeast(tmin + distance) } else { Bound::AtMost(tmax - distance) };
                return Err(PlanError::new(
                    field,
                    format!(
                        "must be {} with the {} at {} mm/s ({v} pps): its {distance} steps would take the fast axis \
                         from {span_end} to {reach} steps, outside the travel {tmin}..={tmax} steps",
                        bound.describe(step_mm, plan.step_um),
                        run.name(),
                        mm_text(v * step_mm),
                    ),
                ));
            }
        }
        if plan.slow_axis.is_some() && (l.slow_steps < tmin || l.slow_steps > tmax) {
            let field = if l.slow_steps == plan.slow_start_steps { "slow_start_steps" } else { "slow_stop_steps" };
            let bound = if l.slow_steps < tmin { Bound::AtLeast(tmin) } else { Bound::AtMost(tmax) };
            return Err(PlanError::new(
                field,
                format!(
                    "must be {}: {} steps is outside the travel {tmin}..={tmax} steps",
                    bound.describe(step_mm, plan.step_um),
                    l.slow_steps
                ),
            ));
        }
    }
    Ok(ValidatedPlan { plan: plan.clone(), fly_speeds: fly, runup_steps: runup, runout_steps: runout, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: AxisSpeeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 1500.0, acc_ms: 300.0, dec_ms: 300.0 };

    #[test]
    fn serpentine_lines_alternate_and_runup_covers_the_ramp() {
        let plan = FlyPlan { lines: 3, slow_start_steps: 0, slow_stop_steps: 100, speed_pps: 1500.0, ..FlyPlan::default() };
        let v = validate(&plan, &BENCH).unwrap();
        // (10 + 1500)/2 * 0.3 s = 226.5 steps of ramp, plus the margin
        assert!(v.runup_steps >= 227 && v.runup_steps < 227 + 40, "{}", v.runup_steps);
        assert_eq!(v.lines.iter().map(|l| l.slow_steps).collect::<Vec<_>>(), vec![0, 50, 100]);
        assert_eq!((v.lines[0].span_from_steps, v.lines[0].span_to_steps), (0, 1000));
        assert_eq!((v.lines[1].span_from_steps, v.lines[1].span_to_steps), (1000, 0));
        assert_eq!(v.lines[1].runup_start_steps, 1000 + v.runup_steps);
        assert_eq!(v.lines[0].runout_end_steps, 1000 + v.runout_steps);
        assert_eq!(v.fly_speeds.hs_pps, 1500.0);
    }

    #[test]
    fn unidirectional_lines_all_fly_the_same_way() {
        let plan = FlyPlan { lines: 2, pattern: Pattern::Unidirectional, ..FlyPlan::default() };
        let v = validate(&plan, &BENCH).unwrap();
        assert!(v.lines.iter().all(|l| l.direction() > 0.0));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases: Vec<(FlyPlan, &str)> = vec![
            (FlyPlan { speed_pps: 1500.1, ..FlyPlan::default() }, "speed_pps"),
            (FlyPlan { speed_pps: 5.0, ..FlyPlan::default() }, "speed_pps"),
            (FlyPlan { speed_pps: f64::NAN, ..FlyPlan::default() }, "speed_pps"),
            (FlyPlan { fast_stop_steps: 0, ..FlyPlan::default() }, "fast_stop_steps"),
            (FlyPlan { lines: 0, ..FlyPlan::default() }, "lines"),
            (FlyPlan { slow_axis: Some(Axis::X), ..FlyPlan::default() }, "slow_axis"),
            (FlyPlan { sample_rate_hz: 0.0, ..FlyPlan::default() }, "sample_rate_hz"),
            (FlyPlan { ring_capacity: 10, ..FlyPlan::default() }, "ring_capacity"),
            (FlyPlan { travel_min_steps: -100, travel_max_steps: 5000, ..FlyPlan::default() }, "fast_start_steps"),
            (FlyPlan { travel_min_steps: -1000, travel_max_steps: 1100, ..FlyPlan::default() }, "fast_stop_steps"),
            (
                FlyPlan { lines: 2, slow_stop_steps: 9000, travel_min_steps: -1000, travel_max_steps: 5000, ..FlyPlan::default() },
                "slow_stop_steps",
            ),
            (FlyPlan { settle_ms: -1.0, ..FlyPlan::default() }, "settle_ms"),
        ];
        for (plan, field) in cases {
            let err = validate(&plan, &BENCH).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn a_run_up_outside_the_travel_names_the_nearest_valid_start() {
        // the bench's defaults: 21.8 µm/step, 1500 pps (32.7 mm/s), 300 ms ramps, travel from 0
        let plan = FlyPlan {
            fast_start_steps: 0,
            fast_stop_steps: 4587,
            speed_pps: 1500.0,
            travel_min_steps: 0,
            travel_max_steps: 55_046,
            ..FlyPlan::default()
        };
        let err = validate(&plan, &BENCH).unwrap_err();
        assert_eq!(err.field, "fast_start_steps");
        // (10 + 1500)/2 × 0.3 s + 1500 × 0.02 s + 2 = 258.5 → 259 steps = 5.6462 mm, shown rounded up
        assert!(
            err.message.starts_with("must be ≥ 5.65 mm (259 steps at 21.8 µm/step) with the run-up at 32.7 mm/s (1500 pps)"),
            "{}",
            err.message
        );
        assert!(err.message.contains("outside the travel 0..=55046 steps"), "{}", err.message);
        // the value offered is accepted
        let fixed = FlyPlan { fast_start_steps: (5.65_f64 / 0.0218).round() as i64, ..plan };
        assert!(validate(&fixed, &BENCH).is_ok());
    }

    #[test]
    fn a_run_out_past_the_travel_end_names_the_nearest_valid_stop() {
        let plan =
            FlyPlan { fast_start_steps: 1000, fast_stop_steps: 5000, travel_min_steps: 0, travel_max_steps: 5100, ..FlyPlan::default() };
        let v = validate(&FlyPlan { travel_max_steps: 1 << 30, ..plan.clone() }, &BENCH).unwrap();
        let err = validate(&plan, &BENCH).unwrap_err();
        assert_eq!(err.field, "fast_stop_steps");
        let nearest = 5100 - v.runout_steps;
        let expected =
            format!("must be ≤ {} mm ({nearest} steps at 21.8 µm/step)", mm_text((nearest as f64 * 0.0218 * 100.0 + 1e-6).floor() / 100.0));
        assert!(err.message.starts_with(&expected), "{} / {expected}", err.message);
        assert!(err.message.contains("with the run-out at"), "{}", err.message);
        assert!(validate(&FlyPlan { fast_stop_steps: nearest, ..plan }, &BENCH).is_ok());
    }

    #[test]
    fn millimetres_are_written_short() {
        assert_eq!(mm_text(32.7), "32.7");
        assert_eq!(mm_text(5.65), "5.65");
        assert_eq!(mm_text(0.0), "0");
        assert_eq!(mm_text(-0.001), "0");
        assert_eq!(mm_text(1200.0), "1200");
        assert_eq!(Bound::AtMost(55_046).describe(0.0218, 21.8), "≤ 1200 mm (55046 steps at 21.8 µm/step)");
    }

    #[test]
    fn continuous_trigger_ignores_the_rate() {
        let plan = FlyPlan { trigger: TriggerMode::Continuous, sample_rate_hz: 0.0, ..FlyPlan::default() };
        assert!(validate(&plan, &BENCH).is_ok());
    }

    #[test]
    fn the_board_is_back_to_back_and_refuses_a_trigger_rate() {
        let board = FlyPlan { detector: DetectorKind::Board, trigger: TriggerMode::Continuous, ..FlyPlan::default() };
        assert_eq!(board.cadence(), Cadence::BackToBack);
        assert!(!board.cadence().has_trigger_schedule());
        assert!(validate(&board, &BENCH).is_ok());
        let err = validate(&FlyPlan { trigger: TriggerMode::Software, ..board }, &BENCH).unwrap_err();
        assert_eq!(err.field, "trigger");
        assert!(err.message.contains("board_n_avg"), "{err}");
        let probe = FlyPlan { sample_rate_hz: 500.0, ..FlyPlan::default() };
        assert_eq!(probe.cadence(), Cadence::Triggered { rate_hz: 500.0 });
        assert!(probe.cadence().has_trigger_schedule());
        let daq = FlyPlan { detector: DetectorKind::External, trigger: TriggerMode::Hardware, ..probe };
        assert_eq!(daq.cadence(), Cadence::HardwareClocked { rate_hz: 500.0 });
        assert!(!daq.cadence().has_trigger_schedule());
    }

    #[test]
    fn a_differential_plan_flies_each_slow_position_excited_then_back_muted() {
        let plan = FlyPlan {
            lines: 3,
            slow_start_steps: 0,
            slow_stop_steps: 200,
            detector: DetectorKind::Board,
            trigger: TriggerMode::Continuous,
            differential: true,
            ..FlyPlan::default()
        };
        assert_eq!(plan.flights(), 6);
        let vp = validate(&plan, &BENCH).unwrap();
        let layout: Vec<(u32, i64, bool, f64)> = vp.lines.iter().map(|l| (l.index, l.slow_steps, l.baseline, l.direction())).collect();
        assert_eq!(
            layout,
            vec![
                (0, 0, false, 1.0),
                (1, 0, true, -1.0),
                (2, 100, false, 1.0),
                (3, 100, true, -1.0),
                (4, 200, false, 1.0),
                (5, 200, true, -1.0)
            ]
        );
        // a baseline line flies back over its excited line's span, with no move between them
        assert_eq!(vp.lines[1].runup_start_steps, vp.lines[0].runout_end_steps);
        let probe = FlyPlan { detector: DetectorKind::VirtualProbe, trigger: TriggerMode::Software, ..plan.clone() };
        assert_eq!(validate(&probe, &BENCH).unwrap_err().field, "differential");
        let settle = FlyPlan { excitation_settle_ms: f64::NAN, ..plan };
        assert_eq!(validate(&settle, &BENCH).unwrap_err().field, "excitation_settle_ms");
    }

    #[test]
    fn slow_positions_are_rounded_linspace() {
        assert_eq!(slow_positions(0, 10, 4), vec![0, 3, 7, 10]);
        assert_eq!(slow_positions(5, 99, 1), vec![5]);
    }

    #[test]
    fn axis_letters_round_trip() {
        for a in Axis::ALL {
            assert_eq!(Axis::parse(&a.letter().to_string()), Some(a));
        }
        assert_eq!(Axis::parse("x"), None);
        assert_eq!(Axis::parse("XY"), None);
    }
}
