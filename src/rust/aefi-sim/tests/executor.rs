//! The executor on the in-memory stage: serpentine lines, progress, refusal before motion,
//! abort, link timeout, limit, drop.
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::{start, StartError};
use aefi_scan_engine::engine::plan::{Axis, AxisSpeeds, DetectorKind, FlyPlan, TriggerMode};
use aefi_scan_engine::engine::record::flags;
use aefi_scan_engine::engine::stage::Stage;
use aefi_scan_engine::engine::stats::ScanState;
use aefi_sim::fake_stage::FakeStage;
use aefi_sim::field::FieldMap;
use aefi_sim::probe::VirtualProbe;
use std::time::Duration;

const FAST_RAMPS: AxisSpeeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 20_000.0, acc_ms: 20.0, dec_ms: 20.0 };

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

#[test]
fn serpentine_scan_completes_with_flagged_lines() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let probe = VirtualProbe::new(stage.truth(), FieldMap::aefi_default(), 21.8, 0.0, 1);
    let scan = start(&small_plan(), stage.clone(), Box::new(probe)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(20)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    assert_eq!(stats.lines, 3);
    let cols = scan.drain(None);
    assert_eq!(cols.len() as u64, stats.samples);
    // 0.2 s of span per line at 2 kHz
    assert!(stats.samples > 3 * 300, "{}", stats.samples);
    for line in 0..3u32 {
        let idx: Vec<usize> = (0..cols.len()).filter(|&i| cols.line[i] == line).collect();
        assert_eq!(cols.flags[idx[0]] & flags::LINE_FIRST, flags::LINE_FIRST);
        assert_eq!(cols.flags[*idx.last().unwrap()] & flags::LINE_LAST, flags::LINE_LAST);
        let first = cols.fast_steps[idx[0]];
        let expect_first = if line % 2 == 0 { 0.0 } else { 2000.0 };
        assert!((first - expect_first).abs() < 15.0, "line {line} first sample at {first}");
        assert_eq!(cols.slow_steps[idx[0]], [0.0, 50.0, 100.0][line as usize]);
    }
    assert!(cols.flags.iter().all(|f| f & flags::ESTIMATED != 0));
    // positions against the truth (instant wire here: tight)
    let truth = stage.truth();
    for i in 0..cols.len() {
        let t = truth.true_steps(Axis::X, cols.t_ns[i]);
        assert!((cols.fast_steps[i] - t).abs() < 2.0, "sample {i}: {} vs {t}", cols.fast_steps[i]);
    }
    assert_eq!(stats.line_times.len(), 3);
    // the link came back: the stage can be driven again
    let mut again = stage.clone();
    assert!(again.poll(Axis::X).is_ok());
}

#[test]
fn progress_shows_the_end_without_join_once_every_record_is_in() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let scan = start(&small_plan(), stage, Box::new(NoDetector)).unwrap();
    let t_end = mono_ns() + 20_000_000_000;
    while !scan.progress().state.is_final() {
        assert!(mono_ns() < t_end, "no end state: {:?}", scan.progress());
        std::thread::sleep(Duration::from_millis(5));
    }
    let p = scan.progress();
    assert_eq!(p.state, ScanState::Completed);
    assert_eq!(scan.drain(None).len() as u64, p.samples);
    assert_eq!(scan.join(None).status, ScanState::Completed);
}

#[test]
fn refused_plan_moves_nothing() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { speed_pps: 50_000.0, ..small_plan() };
    let err = start(&plan, stage.clone(), Box::new(NoDetector)).unwrap_err();
    assert!(matches!(err, StartError::Plan(ref p) if p.field == "speed_pps"), "{err}");
    assert_eq!(stage.true_steps(Axis::X, mono_ns() + 1_000_000_000), 0.0);
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
    let t_req = mono_ns();
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
fn link_timeout_fails_the_scan_with_a_typed_error() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    stage.die_after(40);
    let scan = start(&plan, stage, Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(10)));
    assert_eq!(stats.status, ScanState::Failed);
    assert_eq!(stats.error.unwrap().kind, "LinkTimeoutError");
}

#[test]
fn limit_mid_line_fails_with_controller_error() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    stage.set_limit(Axis::X, 1200.0);
    let plan = FlyPlan { lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    let scan = start(&plan, stage, Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(10)));
    assert_eq!(stats.status, ScanState::Failed, "{stats:?}");
    assert_eq!(stats.error.unwrap().kind, "ControllerError");
    assert!(stats.samples > 0, "what was acquired is kept");
}

#[test]
fn continuous_needs_a_self_timed_detector() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { trigger: TriggerMode::Continuous, detector: DetectorKind::VirtualProbe, ..small_plan() };
    let err = start(&plan, stage, Box::new(NoDetector)).unwrap_err();
    assert!(matches!(err, StartError::Plan(ref p) if p.field == "trigger"));
}

#[test]
fn dropping_a_running_scan_aborts_it() {
    let stage = FakeStage::new(FAST_RAMPS, 0);
    let plan = FlyPlan { speed_pps: 500.0, lines: 1, slow_axis: None, slow_stop_steps: 0, ..small_plan() };
    let scan = start(&plan, stage.clone(), Box::new(NoDetector)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(scan);
    let t = mono_ns();
    assert_eq!(stage.true_steps(Axis::X, t), stage.true_steps(Axis::X, t + 200_000_000));
}
