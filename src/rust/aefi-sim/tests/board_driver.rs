//! The board driver against the simulated board: values, timing, configuration, faults. The
//! wire-timed transactions run once on the real clock (marked) and once on a bench with a
//! [`ManualClock`], where the round trip is exactly the board model's.
use aefi_sim::opener::BenchOpener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::Axis;

use aefi_scan_engine::board::driver::{BoardDriver, BoardError};
use aefi_scan_engine::board::protocol::BoardProtocolError;
use aefi_scan_engine::board::registers::BoardConfig;
use aefi_scan_engine::clock::{Clock, ManualClock};
use aefi_scan_engine::transport::TransportError;
use aefi_sim::arcus::SimConfig;
use aefi_sim::bench::open_bench_with_clock;
use aefi_sim::board::BoardFault;
use aefi_sim::board_bench::board_handle;
use aefi_sim::field::FieldMap;

static BENCH: AtomicU32 = AtomicU32::new(0);

const STEP_MM: f64 = 0.0218;
/// The strongest feature of the default map (mm), in whole steps.
const PROBE_STEPS: (i64, i64) = (1743, 1468);

/// A new bench whose stage counters say it stands on the strongest feature.
fn fresh(timing: &str) -> (String, String) {
    let name = format!("boarddrv{}", BENCH.fetch_add(1, Ordering::Relaxed));
    let url = format!("sim://{name}?timing={timing}");
    let mut arcus = ArcusController::open(&BenchOpener, &format!("sim://{name}?timing=none"), Duration::from_secs(1)).unwrap();
    arcus.set_position(Axis::X, PROBE_STEPS.0).unwrap();
    arcus.set_position(Axis::Y, PROBE_STEPS.1).unwrap();
    (url, name)
}

fn probe_mm() -> (f64, f64) {
    (PROBE_STEPS.0 as f64 * STEP_MM, PROBE_STEPS.1 as f64 * STEP_MM)
}

#[test]
fn measures_the_field_at_the_stage_position() {
    let (url, name) = fresh("none");
    let mut d = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    let v = d.measure(100).unwrap();
    let (x, y) = probe_mm();
    let truth = FieldMap::aefi_default().volts(x, y);
    assert!(truth[4] > 0.5);
    for c in 0..6 {
        assert!((v[c] - truth[c]).abs() < 2e-4, "ch{c}: {} vs {}", v[c], truth[c]);
    }
    let t = board_handle(&name).unwrap().truth(1)[0];
    assert_eq!((t.x_mm, t.y_mm, t.n_avg), (x, y, 100));
}

/// Real clock (wall time): the board's replies paced by the wire and the MCU in real time.
#[test]
fn timed_measurement_places_the_window_on_truth() {
    let (url, name) = fresh("wire");
    let mut d = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    for n in [1u32, 10, 127] {
        let m = d.measure_timed(n).unwrap();
        let truth = board_handle(&name).unwrap().truth(1)[0];
        let predicted = d.timing().round_trip_ns(n, 70);
        assert!(m.round_trip_ns() >= predicted - 1_000_000, "n={n}: {} < {predicted}", m.round_trip_ns());
        // the estimate is off by at most the unexplained part of the round trip (its error bound)
        let off = (m.t_mid_ns - truth.t_mid_ns).abs();
        assert!(off <= m.t_err_ns + 200_000, "n={n}: off {off} ns, bound {} ns", m.t_err_ns);
    }
}

#[test]
fn timed_measurement_in_stepped_time_takes_the_model_round_trip() {
    let name = format!("boarddrv{}", BENCH.fetch_add(1, Ordering::Relaxed));
    let clock = ManualClock::new(1_000_000_000);
    open_bench_with_clock(&name, Arc::new(clock.clone()), || Ok(SimConfig::default())).unwrap();
    let mut arcus = ArcusController::open(&BenchOpener, &format!("sim://{name}?timing=none"), Duration::from_secs(1)).unwrap();
    arcus.set_position(Axis::X, PROBE_STEPS.0).unwrap();
    arcus.set_position(Axis::Y, PROBE_STEPS.1).unwrap();
    let mut d = BoardDriver::open(&BenchOpener, &format!("sim://{name}?timing=wire"), 1_000_000_000).unwrap();
    for n in [1u32, 10, 127] {
        let before = clock.now_ns();
        let m = d.measure_timed(n).unwrap();
        let truth = board_handle(&name).unwrap().truth(1)[0];
        // nothing but the simulated board takes time: the acknowledgement, the averaging and the
        // data line, as the timing model has them
        let predicted = d.timing().round_trip_ns(n, 70);
        assert!((m.round_trip_ns() - predicted).abs() <= 1_000_000, "n={n}: {} vs {predicted}", m.round_trip_ns());
        assert!(m.t_send_ns >= before && clock.now_ns() == m.t_recv_ns);
        let off = (m.t_mid_ns - truth.t_mid_ns).abs();
        assert!(off <= m.t_err_ns, "n={n}: off {off} ns, bound {} ns", m.t_err_ns);
    }
}

#[test]
fn configuration_is_written_through_the_registers() {
    let (url, name) = fresh("none");
    let mut d = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    let before = d.read_codes(50).unwrap();
    let cfg = BoardConfig { adc_gains: [2, 2, 2, 2], ..BoardConfig::default() };
    let writes = d.configure(&cfg).unwrap();
    assert_eq!(writes, cfg.register_writes().unwrap().len());
    let after = d.read_codes(50).unwrap();
    // twice the codes, same volts
    assert!((f64::from(after[4]) / f64::from(before[4]) - 2.0).abs() < 0.01, "{before:?} {after:?}");
    let v = d.measure(50).unwrap();
    assert!((v[4] - FieldMap::aefi_default().volts(probe_mm().0, probe_mm().1)[4]).abs() < 2e-4);
    drop(d);
    // the registers stay with the simulated board: a new link sees the gain
    let mut d2 = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    assert!((f64::from(d2.read_codes(50).unwrap()[4]) / f64::from(before[4]) - 2.0).abs() < 0.01);
    // gain 4 puts the 0.82 V of the Z channel beyond full scale: the ADC saturates
    d2.configure(&BoardConfig { adc_gains: [4, 4, 4, 4], ..BoardConfig::default() }).unwrap();
    assert_eq!(d2.read_codes(50).unwrap()[4], 8_388_607);
    assert_eq!(board_handle(&name).unwrap().measurements(), 5);
    let bad = BoardConfig { osr: 5, ..BoardConfig::default() };
    assert!(matches!(d2.configure(&bad), Err(BoardError::Config { source: e, .. }) if e.parameter == "osr"));
}

#[test]
fn bad_replies_are_typed_errors_naming_the_port() {
    let (url, name) = fresh("none");
    let mut d = BoardDriver::open(&BenchOpener, &url, 200_000_000).unwrap();
    let h = board_handle(&name).unwrap();
    h.inject(BoardFault::Garbage, 1);
    let e = d.measure(1).unwrap_err();
    assert!(matches!(e, BoardError::Protocol { source: BoardProtocolError::NotText(_), .. }), "{e:?}");
    assert!(e.to_string().contains(&name), "{e}");
    h.inject(BoardFault::ShortReply, 1);
    let e = d.measure(1).unwrap_err();
    assert!(matches!(e, BoardError::Protocol { source: BoardProtocolError::TooFewCodes { got: 5, .. }, .. }), "{e:?}");
    h.inject(BoardFault::Silence, 1);
    let e = d.measure(1).unwrap_err();
    assert!(matches!(e, BoardError::Link(TransportError::Timeout { .. })), "{e:?}");
    assert!(e.to_string().contains(&name), "{e}");
    // the link recovers after each fault
    assert!(d.measure(1).is_ok());
    assert!(matches!(d.measure(0), Err(BoardError::Protocol { source: BoardProtocolError::OutOfRange { .. }, .. })));
    h.inject(BoardFault::Unplug, 1);
    let e = d.measure(1).unwrap_err();
    assert!(matches!(e, BoardError::Link(TransportError::Disconnected { .. })), "{e:?}");
    h.clear_faults();
}

#[test]
fn one_link_at_a_time() {
    let (url, _) = fresh("none");
    let d = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    let e = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap_err();
    assert!(matches!(e, BoardError::Link(TransportError::PortBusy { .. })), "{e:?}");
    drop(d);
    assert!(BoardDriver::open(&BenchOpener, &url, 1_000_000_000).is_ok());
}

#[cfg(unix)]
#[test]
fn serial_driver_on_the_pty_server() {
    use aefi_sim::board::{static_probe, BoardModel, BoardSimConfig, BoardSimPort};
    use aefi_sim::board_serve::BoardPty;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let port = BoardSimPort::new(BoardModel::new(BoardSimConfig::default(), static_probe(62.0, 46.0)));
    let pty = BoardPty::open().unwrap();
    let url = format!("serial://{}", pty.path());
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || pty.serve(port, &s2));
    let mut d = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    let m = d.measure_timed(10).unwrap();
    let truth = FieldMap::aefi_default().volts(62.0, 46.0);
    assert!((m.volts[4] - truth[4]).abs() < 1e-3, "{:?} {truth:?}", m.volts);
    assert!(m.round_trip_ns() > 10_000_000, "{}", m.round_trip_ns());
    drop(d);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap().unwrap();
}
