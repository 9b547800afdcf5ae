//! Whole scans on the engine's in-memory stage: the virtual-probe image against the known field
//! map, exact drop counting with a stalled consumer, and positions against ground truth at
//! 9600-baud wire timing.
use aefi_scan_engine::engine::detector::{NoDetector, TruthSource, VirtualProbe};
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::fake::FakeStage;
use aefi_scan_engine::engine::plan::{Axis, AxisSpeeds, FlyPlan, TriggerMode};
use aefi_scan_engine::engine::record::{flags, Columns};
use aefi_scan_engine::engine::stats::ScanState;
use aefi_scan_engine::sim::field::FieldMap;
use std::time::Duration;

const STEP_UM: f64 = 21.8;

fn mm_to_steps(mm: f64) -> i64 {
    (mm / (STEP_UM * 1e-3)).round() as i64
}

/// Linear interpolation of one line's samples (sorted by position) at `x`.
fn interp(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let k = xs.partition_point(|&v| v < x).clamp(1, xs.len() - 1);
    let (x0, x1, y0, y1) = (xs[k - 1], xs[k], ys[k - 1], ys[k]);
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

#[test]
fn virtual_probe_image_matches_the_field_map() {
    let n = 41;
    let (x0_mm, x1_mm, y0_mm, y1_mm) = (20.0, 60.0, 14.0, 54.0);
    let speeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 60_000.0, acc_ms: 10.0, dec_ms: 10.0 };
    let stage = FakeStage::new(speeds, 0);
    let plan = FlyPlan {
        fast_start_steps: mm_to_steps(x0_mm),
        fast_stop_steps: mm_to_steps(x1_mm),
        slow_start_steps: mm_to_steps(y0_mm),
        slow_stop_steps: mm_to_steps(y1_mm),
        lines: n,
        speed_pps: 20_000.0,
        sample_rate_hz: 2_500.0,
        probe_noise_volts: 1e-3,
        realtime: false,
        ..FlyPlan::default()
    };
    let probe = VirtualProbe::new(stage.truth(), FieldMap::aefi_default(), STEP_UM, 1e-3, 5);
    let scan = start(&plan, stage, Box::new(probe)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    let cols = scan.drain(None);
    let map = FieldMap::aefi_default();
    let step_mm = STEP_UM * 1e-3;
    let (mut sq, mut lo, mut hi, mut count) = (0.0, f64::INFINITY, f64::NEG_INFINITY, 0);
    for line in 0..n {
        let mut rows: Vec<(f64, f64)> = (0..cols.len())
            .filter(|&i| cols.line[i] == line)
            .map(|i| (cols.fast_steps[i] * step_mm, cols.channels[i * 6 + 4]))
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(rows.len() > 2 * n as usize, "line {line}: {} samples", rows.len());
        let (xs, ys): (Vec<f64>, Vec<f64>) = rows.into_iter().unzip();
        let y_mm = cols.slow_steps[(0..cols.len()).find(|&i| cols.line[i] == line).unwrap()] * step_mm;
        for j in 0..n {
            let x_mm = x0_mm + (x1_mm - x0_mm) * f64::from(j) / f64::from(n - 1);
            let expected = map.volts(x_mm, y_mm)[4];
            let got = interp(&xs, &ys, x_mm);
            sq += (got - expected).powi(2);
            count += 1;
            lo = lo.min(expected);
            hi = hi.max(expected);
        }
    }
    let rms = (sq / f64::from(count)).sqrt();
    assert!(rms <= 0.02 * (hi - lo), "image RMS error {rms} V vs range {} V", hi - lo);
}

#[test]
fn stalled_consumer_drops_are_counted_exactly() {
    let speeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 60_000.0, acc_ms: 10.0, dec_ms: 10.0 };
    let stage = FakeStage::new(speeds, 0);
    let plan = FlyPlan {
        fast_stop_steps: 20_000,
        slow_axis: None,
        speed_pps: 40_000.0,
        sample_rate_hz: 20_000.0,
        ring_capacity: 1024,
        realtime: false,
        ..FlyPlan::default()
    };
    let scan = start(&plan, stage, Box::new(NoDetector)).unwrap();
    // nobody drains while it runs
    let stats = scan.join(Some(Duration::from_secs(30)));
    assert_eq!(stats.status, ScanState::Completed);
    assert!(stats.samples > 5000, "{}", stats.samples);
    let cols: Columns = scan.drain(None);
    assert_eq!(cols.len(), 1024);
    assert_eq!(stats.dropped_records, stats.samples - 1024);
    // the ring kept the oldest records: seq 0..1024, the rest were counted, not lost silently
    assert_eq!(cols.seq, (0..1024).collect::<Vec<u64>>());
    assert_eq!(scan.progress().dropped_records, stats.dropped_records);
}

/// Fly line at 1500 pps, 9600-baud wire timing: estimated positions vs ground truth.
#[test]
fn positions_match_ground_truth_at_9600_baud() {
    let speeds = AxisSpeeds { ls_pps: 10.0, hs_pps: 1500.0, acc_ms: 100.0, dec_ms: 100.0 };
    let stage = FakeStage::new(speeds, 9600);
    let plan = FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 1500,
        slow_axis: None,
        speed_pps: 1500.0,
        sample_rate_hz: 1000.0,
        trigger: TriggerMode::Software,
        realtime: false,
        ..FlyPlan::default()
    };
    let truth = stage.truth();
    let scan = start(&plan, stage, Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(30)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    let cols = scan.drain(None);
    assert!(cols.len() > 800, "{}", cols.len());
    let mut errs: Vec<f64> =
        (0..cols.len()).map(|i| (cols.fast_steps[i] - truth.true_steps(Axis::X, cols.t_ns[i])).abs()).collect();
    errs.sort_by(f64::total_cmp);
    let p99 = errs[errs.len() * 99 / 100];
    assert!(p99 <= 0.5, "p99 position error {p99} steps");
    assert!(cols.flags.iter().all(|f| f & flags::OUTSIDE_CRUISE == 0));
    assert!(stats.poll_rate_hz > 0.5 * stats.wire_limit_hz, "{} of {}", stats.poll_rate_hz, stats.wire_limit_hz);
}
