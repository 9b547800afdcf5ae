//! Whole scans on the engine's in-memory stage: exact drop counting with a stalled consumer,
//! hardware-clocked samples on the schedule.
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::plan::{AxisSpeeds, FlyPlan, TriggerMode};
use aefi_scan_engine::engine::record::Columns;
use aefi_scan_engine::engine::stats::ScanState;
use aefi_sim::fake_stage::FakeStage;
use aefi_sim::field::FieldMap;
use aefi_sim::probe::VirtualProbe;
use std::time::Duration;

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

#[test]
fn hardware_clock_samples_sit_on_the_schedule_from_the_start_edge() {
    let speeds = AxisSpeeds { ls_pps: 100.0, hs_pps: 60_000.0, acc_ms: 10.0, dec_ms: 10.0 };
    let stage = FakeStage::new(speeds, 0);
    let plan = FlyPlan {
        fast_stop_steps: 4000,
        slow_axis: None,
        speed_pps: 20_000.0,
        trigger: TriggerMode::Hardware,
        sample_rate_hz: 4000.0,
        realtime: false,
        ..FlyPlan::default()
    };
    let probe = VirtualProbe::new(stage.truth(), FieldMap::aefi_default(), 21.8, 0.0, 2);
    let scan = start(&plan, stage, Box::new(probe)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(30)));
    assert_eq!(stats.status, ScanState::Completed);
    let cols = scan.drain(None);
    assert!(cols.len() > 500, "{}", cols.len());
    // every instant is the start edge plus a whole number of 250 µs periods
    for w in cols.t_ns.windows(2) {
        assert_eq!((w[1] - w[0]) % 250_000, 0, "{w:?}");
    }
}
