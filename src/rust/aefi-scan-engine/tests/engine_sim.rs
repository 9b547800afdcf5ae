//! The engine on the PMX-4EX simulator at real wire timing: positions against the simulator's
//! ground truth, and an abort stopping the simulated axis.
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::{Axis as ArcusAxis, SpeedParam};
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::arcus_stage::{sim_truth_for_url, ArcusStage};
use aefi_scan_engine::engine::detector::{NoDetector, TruthSource};
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::plan::{Axis, FlyPlan};
use aefi_scan_engine::engine::stats::ScanState;
use aefi_scan_engine::lease::Shared;
use std::time::Duration;

fn controller(url: &str, hs: i64, acc_ms: i64) -> ArcusController {
    let mut c = ArcusController::open(url, Duration::from_secs(1)).unwrap();
    c.transact(&aefi_scan_engine::arcus::protocol::Command::SetParam(SpeedParam::HighSpeed, None, hs)).unwrap();
    c.set_speeds(ArcusAxis::X, None, Some(10), Some(acc_ms), Some(acc_ms)).unwrap();
    c
}

/// A fly line at 1500 pps over a 9600-baud link: the estimated position of every sample
/// against the simulator's exact position at the sample instant.
#[test]
fn fly_line_positions_match_ground_truth_at_9600_baud() {
    let url = "sim://engine-pos-9600?baud=9600";
    let shared = Shared::new(controller(url, 1500, 300));
    let truth = sim_truth_for_url(url).unwrap();
    let plan = FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 1500,
        slow_axis: None,
        speed_pps: 1500.0,
        sample_rate_hz: 1000.0,
        realtime: false,
        ..FlyPlan::default()
    };
    let stage = ArcusStage::new(shared.lend("flyscan").unwrap());
    let scan = start(&plan, stage, Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    assert_eq!(shared.borrower(), None, "the link went home");
    let cols = scan.drain(None);
    assert!(cols.len() > 800, "{} samples", cols.len());
    let mut errs: Vec<f64> =
        (0..cols.len()).map(|i| (cols.fast_steps[i] - truth.true_steps(Axis::X, cols.t_ns[i])).abs()).collect();
    errs.sort_by(f64::total_cmp);
    let p99 = errs[errs.len() * 99 / 100];
    assert!(p99 <= 0.5, "p99 position error {p99} steps (max {})", errs[errs.len() - 1]);
    assert!(stats.polls > 20 && stats.poll_rate_hz > 0.5 * stats.wire_limit_hz, "{stats:?}");
}

/// An abort mid-line: the simulated axis (ground truth) stands still 20 ms after the request.
#[test]
fn abort_mid_line_stops_the_simulated_axis_within_20_ms() {
    let url = "sim://engine-abort?baud=38400";
    let shared = Shared::new(controller(url, 1500, 100));
    let truth = sim_truth_for_url(url).unwrap();
    let plan = FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 6000,
        slow_axis: None,
        speed_pps: 1500.0,
        sample_rate_hz: 500.0,
        realtime: false,
        ..FlyPlan::default()
    };
    let scan = start(&plan, ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    while scan.progress().state != ScanState::Flying || scan.progress().samples < 100 {
        assert!(!scan.is_finished(), "{:?}", scan.progress());
        std::thread::sleep(Duration::from_millis(5));
    }
    let t_req = mono_ns();
    scan.abort();
    let stats = scan.join(Some(Duration::from_secs(10)));
    assert_eq!(stats.status, ScanState::Aborted, "{stats:?}");
    let at = |t: i64| truth.true_steps(Axis::X, t);
    let stopped = at(t_req + 20_000_000);
    assert!((stopped - at(t_req + 1_000_000_000)).abs() < 1e-9, "still moving 20 ms after the request");
    assert!(stats.abort_latency_ms.is_some_and(|ms| ms < 20.0), "{:?}", stats.abort_latency_ms);
    assert_eq!(shared.borrower(), None);
    assert!(scan.drain(None).len() >= 100, "records taken before the abort stay readable");
}
