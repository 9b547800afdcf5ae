//! The Arcus driver against the simulator over every link: in-process `sim://`, a PTY opened
//! through `serialport`, and TCP; exclusivity of serial opens.
//!
//! Protocol and motion logic runs on benches with a [`ManualClock`]: a reply's wire time and the
//! driver's waits move the clock, so a 20 s move takes no wall time. The tests over the PTY, TCP
//! and the wire-timed in-process link run on the real clock (marked).
use aefi_sim::opener::BenchOpener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aefi_scan_engine::arcus::driver::{ArcusController, ArcusError};
use aefi_scan_engine::arcus::protocol::{Axis, AxisStatus, ControllerError};
use aefi_scan_engine::clock::{mono_ns, Clock, ManualClock};
#[cfg(unix)]
use aefi_scan_engine::transport::serial::SerialLink;
use aefi_scan_engine::transport::TransportError;
use aefi_sim::arcus::{ArcusSim, Fault, SimConfig};
use aefi_sim::bench::{find_bench, open_bench_with_clock};
#[cfg(unix)]
use aefi_sim::serve::ArcusPty;
use aefi_sim::serve::{ArcusTcpServer, ServeOptions};

const SECOND: i64 = 1_000_000_000;

fn unique(name: &str) -> String {
    format!("{name}-{}", mono_ns())
}

/// A bench on a manual clock (9600 baud), and the URL of its Arcus with `timing`.
fn stepped_bench(name: &str, timing: &str) -> (String, ManualClock) {
    let name = unique(name);
    let clock = ManualClock::new(SECOND);
    open_bench_with_clock(&name, Arc::new(clock.clone()), || SimConfig::default().with_options([("baud", "9600")])).unwrap();
    (format!("sim://{name}?baud=9600&timing={timing}"), clock)
}

/// Real clock (wall time): replies paced by the wire at 115200 baud.
#[test]
fn driver_over_the_in_process_link_with_wire_timing() {
    let name = unique("it-wire");
    let url = format!("sim://{name}?baud=115200&timing=wire");
    let mut c = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)).unwrap();
    assert_eq!(c.query("VER").unwrap(), "V180BL");
    c.set_speeds(Axis::X, Some(20_000), Some(100), Some(50), Some(50)).unwrap();
    c.move_abs(Axis::X, 30_000).unwrap();
    let truth = find_bench(&name).unwrap().truth.clone();
    // Each poll's value is the counter when the frame had fully arrived: within a pulse of the
    // truth at that instant, and inside the exchange's stamps.
    let mut polls = 0;
    while c.is_moving(Some(Axis::X)).unwrap() {
        let p = c.position_timed(Axis::X).unwrap();
        let t_effect = p.t_send_ns + 6 * 10 * SECOND / 115_200;
        assert!(t_effect <= p.t_recv_ns);
        let tp = truth.true_position_steps(Axis::X, t_effect);
        assert!((p.value as f64 - tp).abs() <= 1.0 + 1e-6, "{} vs {tp}", p.value);
        polls += 1;
    }
    assert!(polls > 10);
    assert_eq!(c.position(Axis::X).unwrap(), 30_000);
    let st = c.status().unwrap();
    assert_eq!(st.axis(Axis::X), AxisStatus::empty());
    assert!((c.wire_limit_hz().unwrap() - 960.0).abs() < 1e-3);
}

#[test]
fn stop_vs_abort_and_refusals_through_the_driver() {
    let (url, clock) = stepped_bench("it-stop", "none");
    let mut c = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)).unwrap();
    // EDEC is off: the stop decelerates with ACC (200 ms), not DEC
    c.set_speeds(Axis::Y, Some(50_000), Some(500), Some(200), Some(1000)).unwrap();
    c.jog(Axis::Y, true).unwrap();
    clock.advance_ns(300_000_000);
    let e = c.move_abs(Axis::Y, 0).unwrap_err();
    assert!(matches!(e, ArcusError::Controller { error: ControllerError::Pulsing, .. }), "{e}");
    let t_stop = clock.now_ns();
    c.stop(Some(Axis::Y)).unwrap();
    assert!(c.axis_status(Axis::Y).unwrap().contains(AxisStatus::DECEL));
    c.wait_idle(Some(Axis::Y), clock.now_ns() + 10 * SECOND).unwrap();
    // the driver polled in 5 ms steps of the bench's clock: idle within a step of the ramp
    let stopped_after = clock.now_ns() - t_stop;
    assert!((200_000_000..210_000_000).contains(&stopped_after), "{stopped_after} ns");
    c.jog(Axis::Z, false).unwrap();
    c.abort(Some(Axis::Z)).unwrap();
    assert!(!c.axis_status(Axis::Z).unwrap().is_moving());
}

#[test]
fn a_long_move_runs_in_stepped_time_at_the_wire_timing() {
    let (url, clock) = stepped_bench("it-long", "wire");
    let mut c = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)).unwrap();
    c.set_speeds(Axis::X, Some(1000), Some(10), Some(300), Some(300)).unwrap();
    let t0 = clock.now_ns();
    let sent = c.position_timed(Axis::X).unwrap();
    // "@00PX\r" out and "0\r" back at 9600 baud, plus the simulator's 200 µs turnaround
    assert_eq!(sent.t_recv_ns - sent.t_send_ns, (6 + 2) * 10 * SECOND / 9600 + 200_000);
    c.move_abs(Axis::X, 20_000).unwrap();
    let t_move = clock.now_ns();
    c.wait_idle(Some(Axis::X), clock.now_ns() + 60 * SECOND).unwrap();
    assert_eq!(c.position(Axis::X).unwrap(), 20_000);
    // 20 000 steps at 1000 pps with 300 ms ramps from 10 pps: 20.3 s, seen within a poll
    let took = clock.now_ns() - t_move;
    assert!((20_200_000_000..20_400_000_000).contains(&took), "{took} ns");
    let truth = find_bench(url.trim_start_matches("sim://").split('?').next().unwrap()).unwrap().truth.clone();
    assert_eq!(truth.true_position_steps(Axis::X, clock.now_ns()), 20_000.0);
    assert!(t0 < t_move);
}

#[test]
fn injected_faults_reach_the_driver_as_typed_errors() {
    let name = unique("it-faults");
    let url = format!("sim://{name}?timing=none");
    let mut c = ArcusController::open(&BenchOpener, &url, Duration::from_millis(50)).unwrap();
    let bench = find_bench(&name).unwrap();
    bench.inject(Fault::DropReplies { count: 1 });
    let e = c.position(Axis::X).unwrap_err();
    assert!(matches!(e, ArcusError::Transport { source: TransportError::Timeout { .. }, .. }), "{e}");
    assert_eq!(c.position(Axis::X).unwrap(), 0);
    bench.inject(Fault::LimitAt { axis: Axis::X, position: 100 });
    c.move_abs(Axis::X, 1000).unwrap();
    c.wait_idle(Some(Axis::X), mono_ns() + 10 * SECOND).unwrap();
    assert_eq!(c.position(Axis::X).unwrap(), 100);
    let e = c.move_abs(Axis::X, 0).unwrap_err();
    assert!(matches!(e, ArcusError::Controller { error: ControllerError::Limit, .. }), "{e}");
}

struct Served {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(unix)]
fn serve_pty(no_delay: bool) -> (String, Served) {
    let pty = ArcusPty::open().unwrap();
    let path = pty.path().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let sim = Arc::new(Mutex::new(ArcusSim::new(SimConfig::default(), mono_ns())));
    let thread = std::thread::spawn(move || {
        pty.serve(sim, &ServeOptions { no_delay, truth_log: None }, &s).unwrap();
    });
    (path, Served { stop, thread: Some(thread) })
}

#[cfg(unix)]
#[test]
fn pty_round_trip_through_serialport() {
    let (path, _served) = serve_pty(false);
    let mut c = ArcusController::open(&BenchOpener, &format!("serial://{path}"), Duration::from_secs(1)).unwrap();
    assert_eq!(c.query("DN").unwrap(), "4EX00");
    let t = c.position_timed(Axis::X).unwrap();
    // 9600 baud: "@00PX\r" + "0\r" = 8 bytes = 8.3 ms on the wire, at least.
    assert!(t.t_recv_ns - t.t_send_ns >= 8 * 10 * SECOND / 9600, "{:?}", t);
    c.set_speeds(Axis::U, Some(100_000), Some(1000), Some(10), Some(10)).unwrap();
    c.move_abs(Axis::U, 5000).unwrap();
    c.wait_idle(Some(Axis::U), mono_ns() + 10 * SECOND).unwrap();
    assert_eq!(c.positions().unwrap(), [0, 0, 0, 5000]);
}

#[cfg(unix)]
#[test]
fn second_exclusive_open_is_port_busy_and_other_device_is_silent() {
    let (path, _served) = serve_pty(true);
    let first = SerialLink::open(&path, 9600).unwrap();
    let e = SerialLink::open(&path, 9600).unwrap_err();
    assert!(matches!(&e, TransportError::PortBusy { port, .. } if *port == path), "{e}");
    drop(first);
    let mut c = ArcusController::new(
        Box::new(SerialLink::open(&path, 9600).unwrap()),
        aefi_scan_engine::arcus::framing::Framing::Rs485 { device: 1 },
        Duration::from_millis(100),
        &path,
    );
    let e = c.position(Axis::X).unwrap_err();
    assert!(matches!(e, ArcusError::Transport { source: TransportError::Timeout { .. }, .. }), "{e}");
}

#[test]
fn tcp_round_trip() {
    let server = ArcusTcpServer::bind("127.0.0.1:0").unwrap();
    let url = server.url().to_string();
    assert!(url.starts_with("tcp://127.0.0.1:"));
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let sim = Arc::new(Mutex::new(ArcusSim::new(SimConfig::default(), mono_ns())));
    let thread = std::thread::spawn(move || server.serve(sim, &ServeOptions { no_delay: true, truth_log: None }, &s).unwrap());
    let _served = Served { stop, thread: Some(thread) };
    let mut c = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)).unwrap();
    assert_eq!(c.query("VER").unwrap(), "V180BL");
    c.move_abs(Axis::Z, -250).unwrap();
    c.wait_idle(Some(Axis::Z), mono_ns() + 10 * SECOND).unwrap();
    assert_eq!(c.position(Axis::Z).unwrap(), -250);
    assert!(c.wire_limit_hz().is_none());
    let e = c.query("ID").unwrap_err();
    assert_eq!(e.to_string(), format!("ID on {}: controller answered ?ID", url.trim_start_matches("tcp://")));
}
