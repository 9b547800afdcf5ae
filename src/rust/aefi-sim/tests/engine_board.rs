//! Flyscans with the AEFI acquisition board as the detector (polled back to back on its own
//! link, wire-timed simulator reading the field at the stage's true position): the image against
//! the known field map, rejected replies never recorded, an unplugged board ending the scan.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aefi_scan_engine::board::driver::BoardDriver;
use aefi_scan_engine::engine::board_detector::{BoardDetector, BoardSampling};
use aefi_scan_engine::engine::detector::{Detector, DetectorErrorKind};
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::fault::ScanFault;
use aefi_scan_engine::engine::plan::{Axis, AxisSpeeds, Cadence, DetectorKind, FlyPlan, TriggerMode};
use aefi_scan_engine::engine::record::flags;
use aefi_scan_engine::engine::stats::ScanState;
use aefi_sim::board::{BoardFault, BoardModel, BoardSimConfig, BoardSimHandle, BoardSimPort, ProbeFn};
use aefi_sim::board_link::SimBoardLink;
use aefi_sim::fake_stage::FakeStage;
use aefi_sim::field::FieldMap;

mod common;
use common::{interp, mm_to_steps, ImageError, STEP_UM};

/// The bench's default fly speed: 1500 pulses/s (32.7 mm/s).
const DEFAULT_SPEED_PPS: f64 = 1500.0;

/// A stage and a wire-timed simulated board that reads the field where the stage truly is.
fn bench(name: &str) -> (FakeStage, Box<BoardDriver<SimBoardLink>>, BoardSimHandle) {
    let speeds = AxisSpeeds { ls_pps: 10.0, hs_pps: DEFAULT_SPEED_PPS, acc_ms: 100.0, dec_ms: 100.0 };
    let stage = FakeStage::new(speeds, 0);
    let truth = stage.truth();
    let step_mm = STEP_UM * 1e-3;
    let probe: ProbeFn = Arc::new(move |t| (truth.true_steps(Axis::X, t) * step_mm, truth.true_steps(Axis::Y, t) * step_mm));
    let model = BoardModel::new(BoardSimConfig::default(), probe);
    let handle = model.handle();
    let slot = Arc::new(Mutex::new(Some(BoardSimPort::new(model))));
    let link = SimBoardLink::open(name, &slot).unwrap();
    let mut driver = BoardDriver::new(link);
    driver.set_timeout_ns(300_000_000);
    (stage, Box::new(driver), handle)
}

fn plan(x_mm: (f64, f64), y_mm: (f64, f64), lines: u32, n_avg: u32) -> FlyPlan {
    FlyPlan {
        fast_start_steps: mm_to_steps(x_mm.0),
        fast_stop_steps: mm_to_steps(x_mm.1),
        slow_start_steps: mm_to_steps(y_mm.0),
        slow_stop_steps: mm_to_steps(y_mm.1),
        lines,
        speed_pps: DEFAULT_SPEED_PPS,
        detector: DetectorKind::Board,
        trigger: TriggerMode::Continuous,
        board_n_avg: n_avg,
        realtime: false,
        ..FlyPlan::default()
    }
}

#[test]
fn board_flyscan_image_matches_the_field_map_at_the_default_speed() {
    let (x0, x1, y0, y1, n) = (26.0, 50.0, 26.0, 38.0, 4u32);
    let (stage, driver, handle) = bench("sim://engine-board-image (board)");
    let scan = start(&plan((x0, x1), (y0, y1), n, 1), stage, Box::new(BoardDetector::new(driver, 1))).unwrap();
    let stats = scan.join(Some(Duration::from_secs(120)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    let cols = scan.drain(None);
    // one board transaction per sample: ~86 Hz at n = 1 (model 11.5 ms), smear = speed × window
    assert!(stats.sample_rate_hz > 40.0 && stats.sample_rate_hz < 100.0, "{} Hz", stats.sample_rate_hz);
    // back to back: no trigger schedule, so no lateness and no missed triggers; the limit is the
    // timing model's round trip at n = 1 (11.5 ms: 86.6 Hz), which the board cannot beat
    assert_eq!(stats.cadence, Cadence::BackToBack);
    assert!(stats.trigger_lateness_us.is_none() && stats.missed_triggers.is_none(), "{stats:?}");
    let limit = stats.detector_rate_limit_hz.expect("the board's timing model gives a limit");
    assert!((limit - 86.6).abs() < 1.0, "{limit} Hz");
    assert!(stats.sample_rate_hz <= limit * 1.02, "{} Hz over the {limit} Hz limit", stats.sample_rate_hz);
    assert_eq!(cols.len() as u64, stats.samples);
    eprintln!("board flyscan: {:.1} Hz, smear {:.3} steps", stats.sample_rate_hz, stats.smear_steps);
    assert!(handle.measurements() as u64 >= stats.samples);
    let map = FieldMap::aefi_default();
    let step_mm = STEP_UM * 1e-3;
    for ch in 0..6 {
        let mut err = ImageError::new();
        for line in 0..n {
            let mut rows: Vec<(f64, f64)> = (0..cols.len())
                .filter(|&i| cols.line[i] == line)
                .map(|i| (cols.fast_steps[i] * step_mm, cols.channels[i * 6 + ch]))
                .collect();
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(rows.len() > 40, "line {line}: {} samples", rows.len());
            let (xs, ys): (Vec<f64>, Vec<f64>) = rows.into_iter().unzip();
            let y_mm = cols.slow_steps[(0..cols.len()).find(|&i| cols.line[i] == line).unwrap()] * step_mm;
            for j in 0..41 {
                let x_mm = x0 + 0.5 + (x1 - x0 - 1.0) * f64::from(j) / 40.0;
                err.add(interp(&xs, &ys, x_mm), map.volts(x_mm, y_mm)[ch]);
            }
        }
        let (rms, range) = (err.rms(), err.range());
        eprintln!("channel {ch}: RMS error {:.3} % of range", 100.0 * rms / range);
        assert!(rms <= 0.02 * range, "channel {ch}: image RMS error {rms} V vs range {} V", range);
    }
}

#[test]
fn replies_that_do_not_parse_are_never_recorded() {
    let (stage, driver, handle) = bench("sim://engine-board-garbage (board)");
    let detector = BoardDetector::new(driver, 4);
    let scan = start(&plan((20.0, 30.0), (30.0, 30.0), 1, 4), stage, Box::new(detector)).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    handle.inject(BoardFault::Garbage, 3);
    handle.inject(BoardFault::ShortReply, 2);
    handle.inject(BoardFault::Silence, 1);
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    assert_eq!(stats.rejected_samples, 6, "{stats:?}");
    let cols = scan.drain(None);
    assert!(cols.channels.iter().all(|v| v.is_finite()));
    assert!(cols.flags.iter().all(|f| f & flags::DETECTOR_FAULT == 0));
}

#[test]
fn unplugging_the_board_stops_the_motors_and_keeps_the_lines_taken() {
    let (stage, driver, handle) = bench("sim://engine-board-unplug (board)");
    let truth = stage.truth();
    let scan = start(&plan((20.0, 44.0), (30.0, 40.0), 3, 1), stage, Box::new(BoardDetector::new(driver, 1))).unwrap();
    // unplug during the second line
    while scan.progress().lines_done < 1 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    handle.inject(BoardFault::Unplug, 1);
    let stats = scan.join(Some(Duration::from_secs(30)));
    assert_eq!(stats.status, ScanState::Failed, "{stats:?}");
    let Some(ScanFault::Detector(err)) = stats.error.clone() else { panic!("{:?}", stats.error) };
    assert_eq!(err.kind, DetectorErrorKind::Link);
    assert!(err.message.contains("unplugged") && err.message.contains("engine-board-unplug"), "{err:?}");
    let cols = scan.drain(None);
    assert!(cols.line.iter().filter(|&&l| l == 0).count() > 40, "the first line is kept");
    assert!(!cols.line.contains(&2), "nothing after the failure");
    // the axis is at rest soon after the failure
    let t = aefi_scan_engine::clock::mono_ns();
    let a = truth.true_steps(Axis::X, t);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(a, truth.true_steps(Axis::X, aefi_scan_engine::clock::mono_ns()));
}

#[test]
fn a_silent_board_never_holds_the_trigger_loop_up() {
    let (_stage, driver, handle) = bench("sim://engine-board-silent (board)");
    let mut det = BoardDetector::with_sampling(driver, 1, BoardSampling::BackToBack);
    det.begin().unwrap();
    let now = aefi_scan_engine::clock::mono_ns;
    let give_up = now() + 5_000_000_000;
    while det.acquire(now()).unwrap().is_none() {
        assert!(now() < give_up, "no sample from the board");
        std::thread::sleep(Duration::from_millis(1));
    }
    handle.inject(BoardFault::Silence, 1);
    let rejected = det.rejected();
    let mut calls = 0;
    while det.rejected() == rejected {
        assert!(now() < give_up, "the silent reply never timed out");
        det.acquire(now()).unwrap();
        calls += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    // the unanswered command waited its whole deadline (>= 50 ms) on the I/O thread; a loop that
    // did the transaction itself would have made one call meanwhile
    assert!(calls >= 10, "{calls} calls during the silent reply");
    det.end();
    assert!(det.into_driver().is_some(), "the driver comes back");
}
