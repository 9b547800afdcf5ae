//! The executor on the in-memory stage: the four verbs, refusals before motion, abort in every
//! state, faults, drop. Logic runs on a manual clock (the stage's wire waits and the executor's
//! deadlines take no wall time); a few tests run on the real clock, where the records' positions
//! are checked against the stage's truth and the abort must stop the axis in wall time.
use aefi_scan_engine::clock::{Clock, ManualClock, MonotonicClock};
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::{start, Executor};
use aefi_scan_engine::engine::fault::{AxisRefusal, ScanFault};
use aefi_scan_engine::engine::physics::{minimum_s, StartPositions};
use aefi_scan_engine::engine::plan::{validate, Axis, AxisSpeeds, DetectorKind, FlyPlan, TriggerMode};
use aefi_scan_engine::engine::record::flags;
use aefi_scan_engine::engine::stage::{Latch, Stage, StageErrorKind};
use aefi_scan_engine::engine::stats::ScanState;
use aefi_sim::fake_stage::FakeStage;
use aefi_sim::field::FieldMap;
use aefi_sim::probe::VirtualProbe;
use std::sync::Arc;
use std::time::Duration;

const FAST_RAMPS: AxisSpeeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 20_000.0, acc_ms: 20.0, dec_ms: 20.0 };
/// The bench's Arcus settings (the simulator's factory values).
const ARCUS: AxisSpeeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 1000.0, acc_ms: 300.0, dec_ms: 300.0 };

fn small_plan() -> FlyPlan {
    FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 2000,
        slow_start_steps: 0,
        slow_stop_steps: 100,
        lines: 3,
        speed_pps: 10_000.0,
        sample_rate_hz: 2000.0,
        // SCHED_FIFO where permitted, so that a loaded machine cannot starve the trigger
        // thread through a whole line.
        realtime: true,
        ring_capacity: 4096,
        ..FlyPlan::default()
    }
}

/// A bench-like raster: 3 lines of 600 steps at 900 pps, slow steps of 150 steps.
fn bench_plan() -> FlyPlan {
    FlyPlan {
        fast_start_steps: 400,
        fast_stop_steps: 1000,
        slow_start_steps: 300,
        slow_stop_steps: 600,
        lines: 3,
        speed_pps: 900.0,
        realtime: false,
        ring_capacity: 4096,
        ..FlyPlan::default()
    }
}

fn manual() -> (Arc<ManualClock>, Executor) {
    let clock = Arc::new(ManualClock::new(1_000_000_000));
    let ex = Executor::with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
    (clock, ex)
}

#[test]
fn the_four_verbs_fly_a_raster_within_50_ms_per_line_of_physics_at_38400_baud() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(ARCUS, 38_400, Arc::clone(&clock) as Arc<dyn Clock>);
    let plan = bench_plan();
    let vp = validate(&plan, &ARCUS).unwrap();
    ex.prepare(&plan, stage.clone(), Box::new(NoDetector)).unwrap();
    // prepared: at the run-up start of line 0, the detector armed, nothing flying
    let done = ex.complete().unwrap();
    assert_eq!(done.progress().state, ScanState::Ready);
    assert!(!done.is_done());
    let t = clock.now_ns();
    assert_eq!(stage.true_steps(Axis::X, t), vp.lines[0].runup_start_steps as f64);
    assert_eq!(stage.true_steps(Axis::Y, t), vp.lines[0].slow_steps as f64);
    // waiting before kickoff costs nothing in the figures
    clock.advance_ns(5_000_000_000);
    assert_eq!(stage.true_steps(Axis::X, clock.now_ns()), vp.lines[0].runup_start_steps as f64, "nothing flies before kickoff");
    ex.kickoff().unwrap();
    assert!(matches!(ex.kickoff(), Err(ScanFault::Lifecycle(_))), "one kickoff per scan");
    assert!(done.wait(None));
    let stats = done.stats();
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    assert_eq!(stats.lines, 3);
    let physical = minimum_s(&vp, &StartPositions { fast_steps: 0, slow_steps: Some(0) }, Some(&ARCUS));
    assert!((stats.physical_min_s.unwrap() - physical).abs() < 1e-9, "{stats:?}");
    let overhead = stats.overhead_per_line_ms.unwrap();
    eprintln!("physical {physical:.3} s, wall {:.3} s, overhead {overhead:.1} ms per line", stats.wall_time_s);
    assert!(overhead > 0.0 && overhead <= 50.0, "overhead {overhead} ms per line");
    assert!((stats.efficiency.unwrap() - physical / stats.wall_time_s).abs() < 1e-12);
    assert!(stats.prepare_s > 0.0 && stats.prepare_s < stats.wall_time_s);
    // the last line ends at its run-out, the slow axis on the last line
    let end = clock.now_ns();
    assert_eq!(stage.true_steps(Axis::X, end), vp.lines[2].runout_end_steps as f64);
    assert_eq!(stage.true_steps(Axis::Y, end), vp.lines[2].slow_steps as f64);
}

#[test]
fn the_slow_step_starts_during_the_run_out() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(ARCUS, 38_400, Arc::clone(&clock) as Arc<dyn Clock>);
    let plan = bench_plan();
    let vp = validate(&plan, &ARCUS).unwrap();
    ex.prepare(&plan, stage.clone(), Box::new(NoDetector)).unwrap();
    let mut t = clock.now_ns();
    ex.kickoff().unwrap();
    assert!(ex.complete().unwrap().wait(None));
    // the instant Y leaves line 0's position, X is still in its run-out, past the sampled span
    let (line0, step_to) = (vp.lines[0], vp.lines[1].slow_steps as f64);
    while stage.true_steps(Axis::Y, t) == line0.slow_steps as f64 {
        t += 100_000;
        assert!(t < clock.now_ns(), "Y never stepped");
    }
    let x = stage.true_steps(Axis::X, t);
    assert!(x > line0.span_to_steps as f64 && x < line0.runout_end_steps as f64, "X at {x} when Y starts");
    assert!(stage.true_steps(Axis::Y, clock.now_ns()) > step_to - 1.0);
}

#[test]
fn a_latched_axis_refuses_prepare_before_any_motion() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(ARCUS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    stage.latch(Axis::Y, Latch { minus_limit: true, ..Latch::default() });
    let err = ex.prepare(&bench_plan(), stage.clone(), Box::new(NoDetector)).unwrap_err();
    let ScanFault::AxisRefused { axis, refusal: AxisRefusal::Latched(latch) } = err.clone() else { panic!("{err:?}") };
    assert_eq!((axis, latch.minus_limit), (Axis::Y, true));
    let text = err.to_string();
    assert!(text.contains("axis Y") && text.contains("- limit error latched"), "{text}");
    clock.advance_ns(2_000_000_000);
    assert_eq!(stage.true_steps(Axis::X, clock.now_ns()), 0.0, "nothing moved");
    assert_eq!(stage.true_steps(Axis::Y, clock.now_ns()), 0.0, "nothing moved");
    // the refused scan has ended, failed, with that fault
    let stats = ex.complete().unwrap().stats();
    assert_eq!((stats.status, stats.error), (ScanState::Failed, Some(err)));
    assert!(matches!(ex.kickoff(), Err(ScanFault::Lifecycle(_))));
}

#[test]
fn a_moving_axis_refuses_prepare() {
    let (clock, ex) = manual();
    let mut stage = FakeStage::with_clock(ARCUS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    stage.move_to(Axis::X, 5000).unwrap();
    let err = ex.prepare(&bench_plan(), stage.clone(), Box::new(NoDetector)).unwrap_err();
    assert_eq!(err, ScanFault::AxisRefused { axis: Axis::X, refusal: AxisRefusal::Moving });
}

#[test]
fn refused_plan_moves_nothing() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(FAST_RAMPS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    let plan = FlyPlan { speed_pps: 50_000.0, ..small_plan() };
    let err = ex.prepare(&plan, stage.clone(), Box::new(NoDetector)).unwrap_err();
    assert!(matches!(err, ScanFault::Plan(ref p) if p.field == "speed_pps"), "{err}");
    assert_eq!(stage.true_steps(Axis::X, clock.now_ns() + 1_000_000_000), 0.0);
    let plan = FlyPlan { trigger: TriggerMode::Continuous, detector: DetectorKind::VirtualProbe, ..small_plan() };
    let err = ex.prepare(&plan, stage, Box::new(NoDetector)).unwrap_err();
    assert!(matches!(err, ScanFault::Plan(ref p) if p.field == "trigger"));
}

#[test]
fn verbs_out_of_order_are_refused() {
    let (clock, ex) = manual();
    assert!(matches!(ex.kickoff(), Err(ScanFault::Lifecycle(_))));
    assert!(matches!(ex.complete(), Err(ScanFault::Lifecycle(_))));
    assert!(matches!(ex.collect(None), Err(ScanFault::Lifecycle(_))));
    ex.abort(); // nothing to abort: a no-op
    let stage = FakeStage::with_clock(ARCUS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    ex.prepare(&bench_plan(), stage.clone(), Box::new(NoDetector)).unwrap();
    let again = ex.prepare(&bench_plan(), stage, Box::new(NoDetector)).unwrap_err();
    assert!(matches!(again, ScanFault::Lifecycle(_)), "{again}");
    // abort between prepare and kickoff: the scan ends aborted, kickoff is refused
    ex.abort();
    let stats = ex.complete().unwrap().stats();
    assert_eq!(stats.status, ScanState::Aborted);
    assert_eq!(stats.lines, 0);
    assert!(ex.kickoff().is_err());
}

#[test]
fn join_timeout_aborts_on_the_scan_clock() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(ARCUS, 9600, Arc::clone(&clock) as Arc<dyn Clock>);
    // A line of 1.5 hours of scan time: the motion thread runs it far faster than real time, but
    // not to its end before this thread, however late it is scheduled, sees the deadline pass.
    let plan = FlyPlan { fast_start_steps: 0, fast_stop_steps: 5_000_000, slow_axis: None, lines: 1, ..bench_plan() };
    ex.prepare(&plan, stage, Box::new(NoDetector)).unwrap();
    ex.kickoff().unwrap();
    let t_kickoff = clock.now_ns();
    let scan = ex.scan().unwrap();
    let stats = scan.join(Some(Duration::from_millis(300)));
    assert_eq!(stats.status, ScanState::Aborted, "{stats:?}");
    assert!(stats.wall_time_s > 0.3 && stats.lines == 0, "{stats:?}");
    let requested = stats.abort_latency_ms.unwrap();
    assert!((0.0..40.0).contains(&requested), "ABORT {requested} ms after the request, in scan time");
    assert!(clock.now_ns() - t_kickoff >= 300_000_000);
}

#[test]
fn link_timeout_fails_the_scan_with_a_typed_error() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(FAST_RAMPS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    let plan = FlyPlan { lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    stage.die_after(40);
    ex.prepare(&plan, stage, Box::new(NoDetector)).unwrap();
    ex.kickoff().unwrap();
    let stats = ex.complete().unwrap().stats();
    assert_eq!(stats.status, ScanState::Failed);
    assert!(matches!(stats.error, Some(ScanFault::Stage(ref e)) if e.kind == StageErrorKind::Timeout), "{:?}", stats.error);
    assert_eq!(stats.efficiency, None, "no efficiency for a scan that did not complete");
}

#[test]
fn a_limit_mid_line_fails_with_the_latch() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(FAST_RAMPS, 0, Arc::clone(&clock) as Arc<dyn Clock>);
    stage.set_limit(Axis::X, 1200.0);
    let plan = FlyPlan { lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    ex.prepare(&plan, stage, Box::new(NoDetector)).unwrap();
    ex.kickoff().unwrap();
    let stats = ex.complete().unwrap().stats();
    assert_eq!(stats.status, ScanState::Failed, "{stats:?}");
    let Some(ScanFault::AxisLatched { axis, latch }) = stats.error else { panic!("{:?}", stats.error) };
    assert_eq!((axis, latch.plus_limit), (Axis::X, true));
}

#[test]
fn a_slow_step_that_never_arrives_fails_the_next_line() {
    let (clock, ex) = manual();
    let stage = FakeStage::with_clock(ARCUS, 38_400, Arc::clone(&clock) as Arc<dyn Clock>);
    let plan = bench_plan();
    let vp = validate(&plan, &ARCUS).unwrap();
    // a limit switch half way between the second and the third line's slow positions
    stage.set_limit(Axis::Y, ((vp.lines[1].slow_steps + vp.lines[2].slow_steps) / 2) as f64);
    ex.prepare(&plan, stage, Box::new(NoDetector)).unwrap();
    ex.kickoff().unwrap();
    let stats = ex.complete().unwrap().stats();
    assert_eq!((stats.status, stats.lines), (ScanState::Failed, 2), "{stats:?}");
    let error = stats.error.unwrap();
    assert!(error.to_string().starts_with("axis Y"), "{error}");
}

// ---- on the real clock ------------------------------------------------------------------------

#[test]
fn serpentine_scan_completes_with_flagged_lines_and_true_positions() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let probe = VirtualProbe::new(stage.truth(), FieldMap::aefi_default(), 21.8, 0.0, 1);
    let scan = start(&small_plan(), stage.clone(), Box::new(probe)).unwrap();
    let done = scan.complete();
    // collected in pieces while it flies
    let mut pieces = Vec::new();
    while !done.is_done() {
        pieces.push(scan.drain(Some(97)));
        std::thread::sleep(Duration::from_millis(3));
    }
    pieces.push(scan.drain(None));
    let stats = done.stats();
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    assert_eq!(stats.lines, 3);
    let mut cols = pieces[0].clone();
    for p in &pieces[1..] {
        cols.seq.extend(&p.seq);
        cols.t_ns.extend(&p.t_ns);
        cols.line.extend(&p.line);
        cols.fast_steps.extend(&p.fast_steps);
        cols.slow_steps.extend(&p.slow_steps);
        cols.flags.extend(&p.flags);
    }
    assert_eq!(cols.seq, (0..stats.samples).collect::<Vec<u64>>(), "pieces join without gap or repeat");
    // 0.2 s of span per line at 2 kHz
    assert!(stats.samples > 3 * 300, "{}", stats.samples);
    for line in 0..3u32 {
        let idx: Vec<usize> = (0..cols.seq.len()).filter(|&i| cols.line[i] == line).collect();
        assert_eq!(cols.flags[idx[0]] & flags::LINE_FIRST, flags::LINE_FIRST);
        assert_eq!(cols.flags[*idx.last().unwrap()] & flags::LINE_LAST, flags::LINE_LAST);
        let first = cols.fast_steps[idx[0]];
        let expect_first = if line % 2 == 0 { 0.0 } else { 2000.0 };
        assert!((first - expect_first).abs() < 15.0, "line {line} first sample at {first}");
        assert_eq!(cols.slow_steps[idx[0]], [0.0, 50.0, 100.0][line as usize]);
    }
    assert!(cols.flags.iter().all(|f| f & flags::ESTIMATED != 0));
    // positions against the truth (instant wire here: tight); the slow axis never moved under a sample
    let truth = stage.truth();
    for i in 0..cols.seq.len() {
        let t = truth.true_steps(Axis::X, cols.t_ns[i]);
        assert!((cols.fast_steps[i] - t).abs() < 2.0, "sample {i}: {} vs {t}", cols.fast_steps[i]);
        assert_eq!(truth.true_steps(Axis::Y, cols.t_ns[i]), cols.slow_steps[i], "sample {i}: Y moved under it");
    }
    assert_eq!(stats.line_times.len(), 3);
    // the link came back: the stage can be driven again
    let mut again = stage.clone();
    assert!(again.poll(Axis::X).is_ok());
}

#[test]
fn abort_during_prepare_stops_the_move_to_the_start() {
    let stage = FakeStage::new(ARCUS, 0);
    // the run-up start is 45 000 steps away: 45 s of travel
    let plan = FlyPlan { fast_start_steps: 45_000, fast_stop_steps: 46_000, slow_axis: None, lines: 1, ..bench_plan() };
    let ex = Arc::new(Executor::new());
    let aborter = {
        let ex = Arc::clone(&ex);
        std::thread::spawn(move || {
            while !ex.scan().is_some_and(|s| s.progress().state == ScanState::MovingToStart) {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(100));
            ex.abort();
            MonotonicClock.now_ns()
        })
    };
    let err = ex.prepare(&plan, stage.clone(), Box::new(NoDetector)).unwrap_err();
    let t_req = aborter.join().unwrap();
    assert_eq!(err, ScanFault::Aborted);
    let at = |t| stage.true_steps(Axis::X, t);
    assert!(at(t_req) > 0.0, "it was moving");
    assert_eq!(at(t_req + 100_000_000), at(t_req + 600_000_000), "the axis still moves after the abort");
    let stats = ex.complete().unwrap().stats();
    assert_eq!((stats.status, stats.lines, stats.samples), (ScanState::Aborted, 0, 0));
}

#[test]
fn abort_stops_the_axis_and_keeps_records() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { speed_pps: 2000.0, fast_stop_steps: 4000, lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    let scan = start(&plan, stage.clone(), Box::new(NoDetector)).unwrap();
    while scan.progress().state != ScanState::Flying || scan.progress().samples < 50 {
        std::thread::sleep(Duration::from_millis(2));
    }
    scan.abort();
    let t_req = MonotonicClock.now_ns();
    let stats = scan.join(Some(Duration::from_secs(5)));
    assert_eq!(stats.status, ScanState::Aborted);
    // Generous bounds (a loaded machine may delay the threads); the 20 ms figure is checked
    // on the wire-timed simulator.
    assert!(stats.abort_latency_ms.is_some_and(|ms| ms < 150.0), "{:?}", stats.abort_latency_ms);
    let truth = stage.truth();
    let at = |t| truth.true_steps(Axis::X, t);
    assert_eq!(at(t_req + 150_000_000), at(t_req + 900_000_000), "the axis still moves after the abort");
    assert!(scan.drain(None).len() >= 50);
}

#[test]
fn dropping_an_executor_aborts_its_scan() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { speed_pps: 500.0, lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    let ex = Executor::new();
    ex.prepare(&plan, stage.clone(), Box::new(NoDetector)).unwrap();
    ex.kickoff().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(ex);
    let t = MonotonicClock.now_ns();
    assert_eq!(stage.true_steps(Axis::X, t), stage.true_steps(Axis::X, t + 200_000_000));
}
