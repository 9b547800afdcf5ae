//! The Arcus driver's conformance checks (`aefi_sim::conformance`) over every link that reaches
//! the simulator from here: in-process (`sim://`, wire timing and none), TCP, and a PTY opened
//! through `serialport` (Unix). The USB links run the same checks: `performax://` over the fake
//! PerformaxCom library (aefi-performax-fake's tests).
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::clock::mono_ns;
use aefi_sim::arcus::{ArcusSim, SimConfig};
use aefi_sim::conformance::check_controller;
use aefi_sim::opener::BenchOpener;
#[cfg(unix)]
use aefi_sim::serve::ArcusPty;
use aefi_sim::serve::{ArcusTcpServer, ServeOptions};

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

fn open(url: &str) -> ArcusController {
    ArcusController::open(&BenchOpener, url, Duration::from_secs(1)).unwrap()
}

#[test]
fn in_process_without_timing() {
    let mut c = open(&format!("sim://conf-none-{}?timing=none&device=7", mono_ns()));
    let r = check_controller(&mut c, Some("4EX07")).unwrap();
    assert_eq!(r.version, "V180BL");
}

#[test]
fn in_process_at_115200_baud() {
    let mut c = open(&format!("sim://conf-wire-{}?baud=115200", mono_ns()));
    let r = check_controller(&mut c, Some("4EX00")).unwrap();
    // "@00PX\r" + a reply of 1..11 characters + CR at 115200 baud, plus the 200 µs turnaround
    let floor_ns = 8 * 10 * 1_000_000_000 / 115_200 + 200_000;
    assert!(r.round_trips_ns.iter().all(|&t| t >= floor_ns), "{:?} below {floor_ns}", r.round_trips_ns);
}

#[test]
fn over_tcp() {
    let server = ArcusTcpServer::bind("127.0.0.1:0").unwrap();
    let url = server.url().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let sim = Arc::new(Mutex::new(ArcusSim::new(SimConfig::default(), mono_ns())));
    let thread = std::thread::spawn(move || server.serve(sim, &ServeOptions { no_delay: true, truth_log: None }, &s).unwrap());
    let _served = Served { stop, thread: Some(thread) };
    check_controller(&mut open(&url), Some("4EX00")).unwrap();
}

#[cfg(unix)]
#[test]
fn over_a_pty() {
    let pty = ArcusPty::open().unwrap();
    let path = pty.path().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let mut cfg = SimConfig::default();
    cfg.apply_option("baud", "115200").unwrap();
    let sim = Arc::new(Mutex::new(ArcusSim::new(cfg, mono_ns())));
    let thread = std::thread::spawn(move || pty.serve(sim, &ServeOptions::default(), &s).unwrap());
    let _served = Served { stop, thread: Some(thread) };
    check_controller(&mut open(&format!("serial://{path}?baud=115200")), Some("4EX00")).unwrap();
}
