//! The engine on the PMX-4EX simulator: positions against the simulator's ground truth at real
//! wire timing, an abort stopping the simulated axis, and the virtual-probe image of a raster
//! against the known field map.
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::{Axis as ArcusAxis, SpeedParam};
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::detector::{NoDetector, TruthSource};
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::plan::{Axis, FlyPlan};
use aefi_scan_engine::engine::stats::ScanState;
use aefi_scan_engine::lease::Shared;
use aefi_sim::bench::sim_truth_for_url;
use aefi_sim::field::FieldMap;
use aefi_sim::opener::BenchOpener;
use aefi_sim::probe::VirtualProbe;
use std::time::Duration;

mod common;
use common::{interp, mm_to_steps, ImageError, STEP_UM};

fn controller(url: &str, hs: i64, acc_ms: i64) -> ArcusController {
    let mut c = ArcusController::open(&BenchOpener, url, Duration::from_secs(1)).unwrap();
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
    // 1 s of cruise at 1 kHz: every deadline is a sample or a counted miss (a loaded machine
    // may delay the thread, never silently); enough samples are left to judge the positions.
    assert!(cols.len() as u64 + stats.missed_triggers > 800, "{} samples, {} missed", cols.len(), stats.missed_triggers);
    assert!(cols.len() > 400, "{} samples", cols.len());
    let signed: Vec<f64> = (0..cols.len()).map(|i| cols.fast_steps[i] - truth.true_steps(Axis::X, cols.t_ns[i])).collect();
    let mean = signed.iter().sum::<f64>() / signed.len() as f64;
    let mut errs: Vec<f64> = signed.iter().map(|e| e.abs()).collect();
    errs.sort_by(f64::total_cmp);
    let p99 = errs[errs.len() * 99 / 100];
    eprintln!(
        "9600 baud, 1500 pps: mean error {mean:+.3} steps, {} samples, p99 |error| {p99:.3} steps, max {:.3}, {} polls at {:.1}/s",
        errs.len(),
        errs[errs.len() - 1],
        stats.polls,
        stats.poll_rate_hz
    );
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
    eprintln!("abort: ABORT on the wire {:?} ms after the request", stats.abort_latency_ms);
    assert!((stopped - at(t_req + 1_000_000_000)).abs() < 1e-9, "still moving 20 ms after the request");
    assert!(stats.abort_latency_ms.is_some_and(|ms| ms < 20.0), "{:?}", stats.abort_latency_ms);
    assert_eq!(shared.borrower(), None);
    assert!(scan.drain(None).len() >= 100, "records taken before the abort stay readable");
}

/// A 41 × 41 serpentine raster over the first features of the sample (untimed simulator, fast
/// ramps): each line's samples, interpolated at the grid points, against the field map there.
#[test]
fn virtual_probe_image_of_a_41x41_raster_matches_the_field_map() {
    let url = "sim://engine-image?timing=none";
    let mut c = ArcusController::open(&BenchOpener, url, Duration::from_secs(1)).unwrap();
    c.transact(&aefi_scan_engine::arcus::protocol::Command::SetParam(SpeedParam::HighSpeed, None, 40_000)).unwrap();
    for a in [ArcusAxis::X, ArcusAxis::Y] {
        c.set_speeds(a, None, Some(100), Some(10), Some(10)).unwrap();
    }
    let shared = Shared::new(c);
    let truth = sim_truth_for_url(url).unwrap();
    let n = 41;
    let (x0_mm, x1_mm, y0_mm, y1_mm) = (20.0, 60.0, 14.0, 54.0);
    let plan = FlyPlan {
        fast_start_steps: mm_to_steps(x0_mm),
        fast_stop_steps: mm_to_steps(x1_mm),
        slow_start_steps: mm_to_steps(y0_mm),
        slow_stop_steps: mm_to_steps(y1_mm),
        lines: n,
        speed_pps: 12_000.0,
        sample_rate_hz: 2_000.0,
        probe_noise_volts: 1e-3,
        // SCHED_FIFO where permitted: on a loaded machine an ordinary thread can be starved
        // for a whole 0.15 s line, and a software trigger that does not run takes no sample.
        realtime: true,
        ..FlyPlan::default()
    };
    let probe = VirtualProbe::new(std::sync::Arc::new(truth), FieldMap::aefi_default(), STEP_UM, 1e-3, 5);
    let scan = start(&plan, ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(probe)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(120)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    let cols = scan.drain(None);
    let map = FieldMap::aefi_default();
    let step_mm = STEP_UM * 1e-3;
    let mut err = ImageError::new();
    for line in 0..n {
        let idx: Vec<usize> = (0..cols.len()).filter(|&i| cols.line[i] == line).collect();
        assert!(idx.len() > 2 * n as usize, "line {line}: {} samples", idx.len());
        let y_mm = cols.slow_steps[idx[0]] * step_mm;
        for ch in 0..6 {
            let mut rows: Vec<(f64, f64)> = idx.iter().map(|&i| (cols.fast_steps[i] * step_mm, cols.channels[i * 6 + ch])).collect();
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (xs, ys): (Vec<f64>, Vec<f64>) = rows.into_iter().unzip();
            for j in 0..n {
                let x_mm = x0_mm + (x1_mm - x0_mm) * f64::from(j) / f64::from(n - 1);
                err.add(interp(&xs, &ys, x_mm), map.volts(x_mm, y_mm)[ch]);
            }
        }
    }
    let (rms, range) = (err.rms(), err.range());
    eprintln!("41 x 41 image: RMS error {rms:.5} V = {:.3}% of the range {:.4} V", 100.0 * rms / range, range);
    assert!(rms <= 0.02 * range, "image RMS error {rms} V vs range {} V", range);
}
