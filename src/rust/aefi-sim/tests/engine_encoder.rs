//! The engine with an encoder on the fast axis, on the PMX-4EX simulator: the encoder (AMT112Q,
//! 2048 lines decoded 4× on a 3200-pulse motor turn) read beside the pulse counter at every poll;
//! a clean line completes, a stalled motor stops the scan, failed, naming the axis and positions.
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::{Axis as ArcusAxis, Command, SpeedParam};
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::fault::ScanFault;
use aefi_scan_engine::engine::plan::{Axis, FlyPlan};
use aefi_scan_engine::engine::stats::ScanState;
use aefi_scan_engine::lease::Shared;
use aefi_sim::arcus::Fault;
use aefi_sim::bench::bench_for_url;
use std::time::Duration;

fn controller(url: &str) -> ArcusController {
    let mut c = ArcusController::open(&aefi_sim::opener::BenchOpener, url, Duration::from_secs(1)).unwrap();
    c.transact(&Command::SetParam(SpeedParam::HighSpeed, None, 1500)).unwrap();
    c.set_speeds(ArcusAxis::X, None, Some(10), Some(100), Some(100)).unwrap();
    c
}

fn plan() -> FlyPlan {
    FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 3000,
        slow_axis: None,
        speed_pps: 1500.0,
        sample_rate_hz: 200.0,
        realtime: false,
        encoder_counts_per_step: 2.56,
        encoder_max_slip_steps: 16.0,
        ..FlyPlan::default()
    }
}

#[test]
fn a_line_with_the_encoder_read_at_every_poll_completes() {
    let url = "sim://engine-encoder-clean?baud=38400&encoder_ppr=X=2048:3200";
    let shared = Shared::new(controller(url));
    let scan = start(&plan(), ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    // Every poll of X asked for EX too: the simulator answered both on the same link.
    let mut c = shared.lend("check").unwrap();
    let ex = c.encoder_timed(ArcusAxis::X).unwrap().value;
    let px = c.position_timed(ArcusAxis::X).unwrap().value;
    assert_eq!(ex, (2.56 * px as f64 + 1e-6).floor() as i64, "EX {ex}, PX {px}");
}

#[test]
fn a_stalled_motor_stops_the_scan_failed_naming_the_axis_and_positions() {
    let url = "sim://engine-encoder-stall?baud=38400&encoder_ppr=X=2048:3200";
    let shared = Shared::new(controller(url));
    let bench = bench_for_url(url).unwrap();
    let scan = start(&plan(), ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    // Once the line flies, the motor stalls; its pulses go on being counted.
    let t_end = std::time::Instant::now() + Duration::from_secs(20);
    while scan.progress().fast_steps < 1000.0 && std::time::Instant::now() < t_end {
        std::thread::sleep(Duration::from_millis(5));
    }
    bench.inject(Fault::Stall { axis: ArcusAxis::X });
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Failed, "{stats:?}");
    match &stats.error {
        Some(ScanFault::EncoderSlip(e)) => {
            assert_eq!(e.axis, Axis::X);
            assert!(e.slip_steps > 16.0 && e.pulse_after_steps as f64 > e.encoder_steps, "{e}");
            assert!(e.pulse_after_steps < 3000, "seen before the line ended: {e}");
            let msg = e.to_string();
            assert!(msg.starts_with("axis X:") && msg.contains("steps lost"), "{msg}");
        }
        other => panic!("expected an encoder slip, got {other:?}"),
    }
    // The fault path stopped the axis (decelerated STOP, 100 ms ramp): the pulse counter comes to rest.
    let mut c = shared.lend("check").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let p1 = c.position_timed(ArcusAxis::X).unwrap().value;
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.position_timed(ArcusAxis::X).unwrap().value, p1);
}
