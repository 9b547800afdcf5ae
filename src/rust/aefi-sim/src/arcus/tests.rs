//! Behaviour of the simulated PMX-4EX-SA against notes/arcus-protocol.md §5 and §8.
use super::*;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const T0: i64 = 1_000 * S;

struct Bench {
    sim: ArcusSim,
}

impl Bench {
    fn new() -> Bench {
        Bench::with(SimConfig::default())
    }

    fn with(cfg: SimConfig) -> Bench {
        Bench { sim: ArcusSim::new(cfg, T0) }
    }

    fn opts(options: &[(&str, &str)]) -> Bench {
        Bench::with(SimConfig::default().with_options(options.iter().copied()).unwrap())
    }

    /// Sends `cmd` at T0 + `t_ms` and returns the reply text.
    fn at(&mut self, t_ms: f64, cmd: &str) -> String {
        let t = T0 + (t_ms * 1e6) as i64;
        match self.sim.handle_command(cmd, t, Framing::Rs485 { device: 0 }, false) {
            FrameOutcome::Reply { bytes, .. } => String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_string(),
            other => panic!("no reply to {cmd}: {other:?}"),
        }
    }

    fn int(&mut self, t_ms: f64, cmd: &str) -> i64 {
        let r = self.at(t_ms, cmd);
        r.parse().unwrap_or_else(|_| panic!("{cmd} → {r}"))
    }

    fn status(&mut self, t_ms: f64, axis: Axis) -> AxisStatus {
        let r = self.at(t_ms, "MST");
        let f: Vec<i64> = r.split(':').map(|x| x.parse().unwrap()).collect();
        MotorStatus::from_fields(&f).unwrap().axis(axis)
    }

    fn bench_speeds(&mut self) {
        for c in ["HS=1500", "LS=10", "ACC=300", "DEC=300", "EDEC=1"] {
            assert_eq!(self.at(0.0, c), "OK");
        }
    }
}

#[test]
fn identity_defaults_and_unknown_commands() {
    let mut b = Bench::new();
    assert_eq!(b.at(0.0, "VER"), FIRMWARE_VERSION);
    assert_eq!(b.at(0.0, "DN"), "4EX00");
    assert_eq!(b.at(0.0, "DB"), "1");
    assert_eq!(b.at(0.0, "ID"), "?ID");
    assert_eq!(b.at(0.0, "px"), "?px");
    assert_eq!(b.at(0.0, "POX"), "?POX");
    assert_eq!(b.at(0.0, "MST"), "0:0:0:0:0:0:0:36:0");
    assert_eq!(b.at(0.0, "PP"), "0:0:0:0");
    assert_eq!(b.at(0.0, "HS=0"), "?HS=0");
    assert_eq!(b.at(0.0, "HSX=0"), "OK");
}

#[test]
fn bench_move_of_10000_pulses_lasts_6_965_s_and_ends_on_target() {
    let mut b = Bench::new();
    b.bench_speeds();
    assert_eq!(b.at(0.0, "X10000"), "OK");
    assert!(b.status(100.0, Axis::X).contains(AxisStatus::ACCEL));
    assert!(b.status(3000.0, Axis::X).contains(AxisStatus::CONSTANT));
    // Cruise: 1500 pps.
    let ps: Vec<i64> = b.at(3000.0, "PS").split(':').map(|x| x.parse().unwrap()).collect();
    assert_eq!(ps, vec![1500, 0, 0, 0]);
    assert!(b.status(6800.0, Axis::X).contains(AxisStatus::DECEL));
    assert!(b.sim.is_pulsing(Axis::X, T0 + 6_964 * MS));
    assert!(!b.sim.is_pulsing(Axis::X, T0 + 6_966 * MS));
    assert_eq!(b.int(7000.0, "PX"), 10_000);
    assert_eq!(b.status(7000.0, Axis::X), AxisStatus::empty());
    // The true position is continuous and the counter is its whole part.
    let t = T0 + 4 * S;
    let truth = b.sim.true_position_steps(Axis::X, t);
    assert_eq!(b.sim.pulse_position(Axis::X, t), truth.floor() as i64);
}

#[test]
fn exactly_one_phase_bit_while_pulsing() {
    let mut b = Bench::new();
    b.bench_speeds();
    b.at(0.0, "X3000");
    let mut t = 1.0;
    while t < 2250.0 {
        let s = b.status(t, Axis::X) & (AxisStatus::ACCEL | AxisStatus::DECEL | AxisStatus::CONSTANT);
        assert_eq!(s.bits().count_ones(), 1, "at {t} ms: {s:?}");
        t += 37.0;
    }
}

#[test]
fn pulsing_refusal_is_per_axis_and_leaves_the_move_alone() {
    let mut b = Bench::new();
    b.at(0.0, "X5000");
    assert_eq!(b.at(10.0, "X100"), "?PULSING");
    assert_eq!(b.at(10.0, "JX+"), "?PULSING");
    assert_eq!(b.at(10.0, "HX-0"), "?PULSING");
    assert_eq!(b.at(10.0, "PX=0"), "?PULSING");
    assert_eq!(b.at(10.0, "Y100"), "OK");
    assert_eq!(b.int(60_000.0, "PX"), 5000);
    assert_eq!(b.int(60_000.0, "PY"), 100);
}

#[test]
fn stop_ramps_down_short_of_target_while_abort_is_immediate() {
    let mut b = Bench::new();
    b.bench_speeds();
    b.at(0.0, "X10000");
    b.at(0.0, "Y10000");
    assert_eq!(b.at(2000.0, "STOPX"), "OK");
    assert_eq!(b.at(2000.0, "ABORTY"), "OK");
    // ABORT: idle on the very next query, at the position it had.
    assert!(!b.status(2000.0, Axis::Y).is_moving());
    let py = b.int(2000.0, "PY");
    let px_stop = b.int(2000.0, "PX");
    // STOP: still decelerating just after, then stops ~226 pulses further, short of the target.
    assert!(b.status(2010.0, Axis::X).contains(AxisStatus::DECEL));
    assert_eq!(b.int(5000.0, "PY"), py);
    let px_end = b.int(5000.0, "PX");
    assert!((px_end - px_stop - 226).abs() <= 2, "{px_stop} → {px_end}");
    assert!(px_end < 10_000);
    assert!(!b.sim.is_pulsing(Axis::X, T0 + 2_400 * MS));
    // Both answer OK when idle too.
    assert_eq!(b.at(6000.0, "STOP"), "OK");
    assert_eq!(b.at(6000.0, "ABORT"), "OK");
}

#[test]
fn limit_stops_at_once_latches_until_clr_and_ierr_suppresses() {
    let mut b = Bench::opts(&[("limit", "X=-1000:2000")]);
    b.at(0.0, "X5000");
    assert_eq!(b.int(60_000.0, "PX"), 2000);
    let s = b.status(60_000.0, Axis::X);
    assert!(s.contains(AxisStatus::PLUS_LIMIT_INPUT | AxisStatus::PLUS_LIMIT_ERROR), "{s:?}");
    // Latched: even a move away is refused until CLR.
    assert_eq!(b.at(60_000.0, "X0"), "?LIMIT");
    assert_eq!(b.at(60_000.0, "JX+"), "?LIMIT");
    assert_eq!(b.at(60_000.0, "CLRX"), "OK");
    assert!(!b.status(60_000.0, Axis::X).contains(AxisStatus::PLUS_LIMIT_ERROR));
    // Toward the active switch: refused; away: accepted.
    assert_eq!(b.at(60_000.0, "X2500"), "?LIMIT");
    assert_eq!(b.at(60_000.0, "X0"), "OK");
    assert_eq!(b.int(120_000.0, "PX"), 0);
    // IERR=1: stops at the switch, latches nothing.
    b.at(120_000.0, "IERR=1");
    b.at(120_000.0, "X-5000");
    assert_eq!(b.int(180_000.0, "PX"), -1000);
    let s = b.status(180_000.0, Axis::X);
    assert!(s.contains(AxisStatus::MINUS_LIMIT_INPUT) && !s.has_error(), "{s:?}");
}

#[test]
fn limit_hit_is_immediate_not_ramped() {
    let mut b = Bench::opts(&[("limit", "X=:3000")]);
    b.bench_speeds();
    b.at(0.0, "X10000");
    // Reaches 3000 while cruising at 1500 pps and stops there at once.
    let t_hit = b.sim.axes[0].motion_end_ns;
    let v_before = b.sim.axes[0].truth.velocity(t_hit - MS);
    assert!(v_before > 1400.0, "{v_before}");
    assert_eq!(b.sim.pulse_position(Axis::X, t_hit + MS), 3000);
}

#[test]
fn abs_inc_and_interpolation() {
    let mut b = Bench::new();
    assert_eq!(b.at(0.0, "INC"), "OK");
    assert_eq!(b.at(0.0, "MST"), "0:0:0:0:0:0:0:36:1");
    b.at(0.0, "X100");
    b.at(10_000.0, "X100");
    assert_eq!(b.int(20_000.0, "PX"), 200);
    b.at(20_000.0, "ABS");
    assert_eq!(b.at(20_000.0, "X1000Y-500"), "OK");
    // Linear: both axes finish together, Y at half X's speed.
    let end_x = b.sim.axes[0].motion_end_ns;
    let end_y = b.sim.axes[1].motion_end_ns;
    assert!((end_x - end_y).abs() < MS);
    let t = T0 + 20_000 * MS + (end_x - T0 - 20_000 * MS) / 2;
    let dx = b.sim.true_position_steps(Axis::X, t) - 200.0;
    let dy = b.sim.true_position_steps(Axis::Y, t);
    assert!((dy / dx + 0.625).abs() < 1e-6, "{dx} {dy}");
    // STOP on one axis stops both.
    b.at(20_000.0 + 100.0, "ABORTY");
    assert!(!b.status(20_100.0, Axis::X).is_moving());
    assert_eq!(b.at(40_000.0, "X1000Y-500"), "OK");
    assert_eq!(b.at(60_000.0, "PP"), "1000:-500:0:0");
}

#[test]
fn jog_cruises_until_stop() {
    let mut b = Bench::new();
    b.at(0.0, "JY-");
    assert!(b.status(5000.0, Axis::Y).contains(AxisStatus::CONSTANT));
    let p1 = b.int(5000.0, "PY");
    let p2 = b.int(6000.0, "PY");
    assert!((p2 - p1 + 1000).abs() <= 1, "{p1} {p2}");
    b.at(6000.0, "STOPY");
    let end = b.int(10_000.0, "PY");
    assert!(end < p2);
    assert!(!b.status(10_000.0, Axis::Y).is_moving());
}

#[test]
fn homing_modes() {
    // Mode 0: zero at the home switch, then ramp down; the final position is past zero.
    let mut b = Bench::opts(&[("home", "X=-3000"), ("limit", "X=-5000:")]);
    b.at(0.0, "HX-0");
    let end = b.int(60_000.0, "PX");
    assert!(end < 0 && end > -200, "{end}");
    assert!((b.sim.true_position_steps(Axis::X, T0 + 60 * S) - end as f64).abs() < 1e-6);
    // Mode 4: back to the switch at LS, position and encoder zeroed.
    let mut b = Bench::opts(&[("home", "X=-3000")]);
    b.at(0.0, "EX=77");
    b.at(0.0, "HX-4");
    assert_eq!(b.int(60_000.0, "PX"), 0);
    assert_eq!(b.int(60_000.0, "EX"), 0);
    assert!(b.status(60_000.0, Axis::X).contains(AxisStatus::HOME_INPUT));
    // Mode 1: to the limit, back off one pulse, zero; no error latched.
    let mut b = Bench::opts(&[("limit", "Y=-4000:")]);
    b.at(0.0, "HY-1");
    assert_eq!(b.int(60_000.0, "PY"), 0);
    assert!(!b.status(60_000.0, Axis::Y).has_error());
    assert!((b.sim.axes[1].truth.physical(T0 + 60 * S) + 3999.0).abs() < 1e-6);
    // Modes 2/3 are refused.
    assert_eq!(b.at(60_000.0, "HY-2"), "?HY-2");
    // STOP during homing: no zeroing happens.
    let mut b = Bench::opts(&[("home", "X=-30000")]);
    b.at(0.0, "HX-0");
    b.at(1000.0, "STOPX");
    let p = b.int(10_000.0, "PX");
    assert!(p < -500 && p > -2000, "{p}");
}

#[test]
fn target_change_and_speed_change_on_the_fly() {
    let mut b = Bench::new();
    b.bench_speeds();
    b.at(0.0, "X10000");
    b.at(1000.0, "TX4000");
    assert_eq!(b.int(20_000.0, "PX"), 4000);
    // Already past the new target: decelerates, reverses, ends on it.
    b.at(20_000.0, "X10000");
    let p = b.int(24_000.0, "PX");
    assert!(p > 8000, "{p}");
    b.at(24_000.0, "TX5000");
    assert_eq!(b.int(40_000.0, "PX"), 5000);
    // SSPD needs SSPDM.
    b.at(40_000.0, "X20000");
    assert_eq!(b.at(41_000.0, "SSPDX=3000"), "?SSPD Error");
    b.at(60_000.0, "SSPDMX=1");
    b.at(60_000.0, "X0");
    assert_eq!(b.at(61_000.0, "SSPDX=3000"), "OK");
    let ps: i64 = b.at(64_000.0, "PS").split(':').next().unwrap().parse().unwrap();
    assert_eq!(ps, 3000);
    assert_eq!(b.int(80_000.0, "PX"), 0);
}

#[test]
fn toc_sets_bit_11_until_cleared() {
    let mut b = Bench::new();
    b.at(0.0, "TOC=100");
    assert!(!b.status(50.0, Axis::X).contains(AxisStatus::TOC_TIMEOUT));
    assert!(b.status(300.0, Axis::X).contains(AxisStatus::TOC_TIMEOUT));
    assert!(b.status(310.0, Axis::U).contains(AxisStatus::TOC_TIMEOUT));
    b.at(320.0, "CLRX");
    assert!(!b.status(330.0, Axis::X).contains(AxisStatus::TOC_TIMEOUT));
}

#[test]
fn sync_armed_instant_and_true_crossings_are_published() {
    let mut b = Bench::new();
    assert_eq!(b.sim.sync_armed_ns(Axis::X), None);
    b.at(0.0, "SYNXP=700");
    b.at(0.0, "SYNXC=1");
    b.at(10.0, "SYNXO");
    assert_eq!(b.sim.sync_armed_ns(Axis::X), Some(T0 + 10 * MS));
    // at rest: no crossing of a position it does not reach
    assert_eq!(b.sim.true_crossing_ns(Axis::X, 700.0, T0 + 10 * MS), None);
    b.at(20.0, "X1000");
    let tc = b.sim.true_crossing_ns(Axis::X, 700.0, T0 + 20 * MS).unwrap();
    assert!((b.sim.true_position_steps(Axis::X, tc) - 700.0).abs() < 1e-6);
    // the SYN compare (1 count per step) fires where the true position enters the count 700
    let te = b.sim.sync_event_ns(Axis::X).unwrap();
    assert!((b.sim.true_position_steps(Axis::X, te) - 700.0).abs() < 1.0 + 1e-9, "{te} {tc}");
    // the counter frame: after P=, a crossing is asked in the new frame
    b.at(30_000.0, "PX=0");
    b.at(30_000.0, "X-500");
    let back = b.sim.true_crossing_ns(Axis::X, -200.0, T0 + 30_000 * MS).unwrap();
    assert!((b.sim.true_position_steps(Axis::X, back) + 200.0).abs() < 1e-6);
    b.at(60_000.0, "SYNXF");
    assert_eq!(b.sim.sync_armed_ns(Axis::X), None);
}

#[test]
fn encoder_sync_output_and_latch() {
    let mut b = Bench::opts(&[("encoder_ratio", "4")]);
    b.at(0.0, "SYNXP=2000");
    b.at(0.0, "SYNXC=1");
    b.at(0.0, "SYNXO");
    assert_eq!(b.int(0.0, "SYNXS"), 1);
    b.at(0.0, "X1000");
    assert_eq!(b.int(30_000.0, "EX"), 4000);
    assert_eq!(b.int(30_000.0, "SYNXS"), 2);
    let te = b.sim.sync_event_ns(Axis::X).unwrap();
    assert!((b.sim.true_position_steps(Axis::X, te) - 500.0).abs() < 0.01);
    // Latch on DI4 rising edge.
    b.at(30_000.0, "LTX=1");
    assert_eq!(b.int(30_000.0, "LTXS"), 1);
    b.at(30_000.0, "X0");
    b.sim.inject(Fault::DigitalInput { input: 4, on: true }, T0 + 31_000 * MS);
    assert_eq!(b.int(31_000.0, "DI"), 8);
    assert_eq!(b.int(40_000.0, "LTXS"), 2);
    let lp = b.int(40_000.0, "LTXP");
    assert!(lp > 0 && lp < 1000, "{lp}");
    assert!((b.int(40_000.0, "LTXE") - 4 * lp).abs() <= 4);
}

#[test]
fn quadrature_encoder_per_axis_slips_on_a_stall_and_drives_syn() {
    // AMT112Q on X: 2048 lines, 3200 pulses per turn, 4x decoding = 2.56 counts per pulse; Y unwired.
    let mut b = Bench::opts(&[("encoder_ppr", "X=2048:3200"), ("encoder", "Y=0")]);
    b.bench_speeds();
    b.at(0.0, "X1000");
    b.at(0.0, "Y1000");
    assert_eq!(b.int(10_000.0, "EX"), 2560);
    assert_eq!(b.at(10_000.0, "PE"), "2560:0:0:0", "Y moved but has no encoder");
    // Slip: a stall stops the motor (and the encoder on its shaft) while the pulses run on.
    let mut b = Bench::opts(&[("encoder_ppr", "X=2048:3200")]);
    b.bench_speeds();
    b.at(0.0, "X3000");
    b.sim.inject(Fault::Stall { axis: Axis::X }, T0 + 1_000 * MS);
    let stuck = b.sim.true_position_steps(Axis::X, T0 + 1_000 * MS);
    assert_eq!(b.int(10_000.0, "PX"), 3000);
    assert_eq!(b.int(10_000.0, "EX"), (2.56 * stuck + 1e-6).floor() as i64);
    assert!(b.int(10_000.0, "EX") < 3840, "the encoder lags the 7680 counts of the pulses by half");
    // SYN "equal" approached from above fires when the count enters P, i.e. at the band's top edge.
    let mut b = Bench::opts(&[("encoder_ppr", "X=2048:3200")]);
    b.bench_speeds();
    b.at(0.0, "X2000");
    assert_eq!(b.int(10_000.0, "EX"), 5120);
    for c in ["SYNXP=2560", "SYNXC=1", "SYNXT=2", "SYNXO", "X0"] {
        assert_eq!(b.at(10_000.0, c), "OK");
    }
    let te = b.sim.sync_event_ns(Axis::X).unwrap();
    assert!((2.56 * b.sim.true_position_steps(Axis::X, te) - 2561.0).abs() < 1e-6);
    let ms = (te - T0) as f64 / 1e6;
    assert_eq!(b.int(ms - 0.5, "SYNXS"), 1);
    assert_eq!(b.int(ms + 0.01, "EX"), 2560);
    assert_eq!(b.int(ms + 0.5, "SYNXS"), 2);
    assert_eq!(b.int(ms + 1.0, "DO") & 1, 1, "DO1 is on for the 2 ms pulse");
    assert_eq!(b.int(ms + 3.0, "DO") & 1, 0);
}

#[test]
fn reply_faults() {
    let mut b = Bench::new();
    let f = Framing::Rs485 { device: 0 };
    b.sim.inject(Fault::DropReplies { count: 1 }, T0);
    assert_eq!(b.sim.handle_command("PX", T0, f, false), FrameOutcome::Silent);
    b.sim.inject(Fault::GarbleReplies { count: 1 }, T0);
    match b.sim.handle_command("PX", T0, f, false) {
        FrameOutcome::Reply { bytes, .. } => {
            assert!(aefi_scan_engine::arcus::protocol::parse_reply(f.reply_text(&bytes)).is_err())
        }
        o => panic!("{o:?}"),
    }
    b.sim.inject(Fault::DelayReplies { count: 1, delay_ns: 5 * MS }, T0);
    match b.sim.handle_command("PX", T0 + MS, f, true) {
        FrameOutcome::Reply { ready_ns, .. } => {
            assert_eq!(ready_ns, T0 + MS + 5 * MS + DEFAULT_TURNAROUND_NS + wire_time_ns(2, 9600))
        }
        o => panic!("{o:?}"),
    }
    b.sim.inject(Fault::Disconnect, T0);
    assert_eq!(b.sim.handle_command("PX", T0 + 2 * MS, f, false), FrameOutcome::Dead);
    b.sim.inject(Fault::Reconnect, T0);
    assert_eq!(b.at(3.0, "PX"), "0");
    let mut b = Bench::opts(&[("drop_every", "2"), ("disconnect_after", "3")]);
    assert!(matches!(b.sim.handle_command("PX", T0, f, false), FrameOutcome::Reply { .. }));
    assert_eq!(b.sim.handle_command("PX", T0, f, false), FrameOutcome::Silent);
    assert!(matches!(b.sim.handle_command("PX", T0, f, false), FrameOutcome::Reply { .. }));
    assert_eq!(b.sim.handle_command("PX", T0, f, false), FrameOutcome::Dead);
}

#[test]
fn injected_limit_and_stall_mid_move() {
    let mut b = Bench::new();
    b.at(0.0, "X5000");
    b.sim.inject(Fault::LimitAt { axis: Axis::X, position: 2500 }, T0 + 1000 * MS);
    assert_eq!(b.int(30_000.0, "PX"), 2500);
    assert!(b.status(30_000.0, Axis::X).contains(AxisStatus::PLUS_LIMIT_ERROR));
    b.at(30_000.0, "CLRX");
    // Stall: the counter goes on, the motor (truth, encoder) stays.
    b.at(30_000.0, "X4000");
    b.sim.inject(Fault::Stall { axis: Axis::X }, T0 + 30_500 * MS);
    let stuck = b.sim.true_position_steps(Axis::X, T0 + 30_500 * MS);
    assert_eq!(b.int(60_000.0, "PX"), 4000);
    assert!((b.sim.true_position_steps(Axis::X, T0 + 60 * S) - stuck).abs() < 1e-9);
    assert_eq!(b.int(60_000.0, "EX"), (stuck + 1e-6).floor() as i64);
    b.sim.inject(Fault::Unstall { axis: Axis::X }, T0 + 60 * S);
    b.at(60_000.0, "X4100");
    assert!((b.sim.true_position_steps(Axis::X, T0 + 90 * S) - (stuck + 100.0)).abs() < 1e-6);
}

#[test]
fn truth_log_round_trips_through_json() {
    let mut b = Bench::new();
    b.at(0.0, "X5000");
    b.at(500.0, "PX=0");
    b.at(20_000.0, "JY+");
    b.at(22_000.0, "STOPY");
    let log = b.sim.truth_log();
    let back = TruthLog::from_json(&log.to_json().unwrap()).unwrap();
    for t_ms in [0, 100, 700, 3000, 6000, 21_000, 22_100, 30_000] {
        let t = T0 + t_ms * MS;
        for a in [Axis::X, Axis::Y] {
            assert_eq!(back.true_position_steps(a, t), b.sim.true_position_steps(a, t));
        }
    }
}

#[test]
fn set_position_shifts_the_counter_frame() {
    let mut b = Bench::new();
    b.at(0.0, "X1000");
    b.at(5000.0, "PX=0");
    assert_eq!(b.int(5000.0, "PX"), 0);
    assert_eq!(b.sim.true_position_steps(Axis::X, T0 + 5 * S), 0.0);
    assert_eq!(b.sim.true_position_steps(Axis::X, T0 + 4 * S), 1000.0);
    b.at(5000.0, "X-500");
    assert_eq!(b.int(20_000.0, "PX"), -500);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const TEMPLATES: &[&str] = &[
        "X{}",
        "Y{}",
        "X{}Y{}",
        "X{}Z{}U{}",
        "JX+",
        "JY-",
        "STOP",
        "STOPX",
        "ABORT",
        "ABORTY",
        "HX-0",
        "HX+4",
        "HY-1",
        "HY+1",
        "HX-4",
        "TX{}",
        "PX={}",
        "EX={}",
        "HS={}",
        "HSX={}",
        "LS={}",
        "LSY={}",
        "ACC={}",
        "DEC={}",
        "DECX={}",
        "SSPDMX=1",
        "SSPDX={}",
        "TOC={}",
        "SYNXP={}",
        "SYNXC=2",
        "SYNXO",
        "SYNXS",
        "LTX=1",
        "LTXS",
        "MST",
        "PP",
        "PS",
        "PE",
        "DO",
        "DO1",
        "INC",
        "ABS",
        "CLR",
        "CLRX",
        "IERR=1",
        "IERR=0",
        "EDEC=1",
        "EDEC=0",
        "ID",
    ];

    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![-5000i64..5000, 0i64..200_000, any::<i64>(), Just(i64::MIN), Just(i32::MAX as i64 + 1)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any sequence of commands at any pace, with switches and faults configured: no panic,
        /// and every query of a position reads a finite integer.
        #[test]
        fn no_command_sequence_panics(
            steps in proptest::collection::vec((0..TEMPLATES.len(), value(), value(), value(), 0i64..3_000_000_000), 1..40)
        ) {
            let mut b = Bench::opts(&[("limit", "X=-3000:3000"), ("home", "X=-100"), ("limit", "Y=-2000:"),
                                      ("encoder_ratio", "4"), ("limit_hit", "Z=700")]);
            let mut t_ms = 0.0;
            for (i, (k, v1, v2, v3, dt_ns)) in steps.into_iter().enumerate() {
                t_ms += dt_ns as f64 / 1e6;
                let mut text = TEMPLATES[k].to_string();
                for v in [v1, v2, v3] {
                    text = text.replacen("{}", &v.to_string(), 1);
                }
                if i == 5 {
                    b.sim.inject(Fault::Stall { axis: Axis::X }, T0 + (t_ms * 1e6) as i64);
                }
                let _ = b.at(t_ms, &text);
                let pp = b.at(t_ms, "PP");
                prop_assert!(aefi_scan_engine::arcus::protocol::parse_reply(pp.as_bytes()).is_ok(), "{}", pp);
                for a in Axis::ALL {
                    prop_assert!(b.sim.true_position_steps(a, T0 + (t_ms * 1e6) as i64).is_finite());
                }
            }
        }
    }
}
