//! Engine figures (no asserts): trigger lateness of the production pacer + virtual probe at
//! 1 kHz and 5 kHz (idle and with a CPU-bound thread in the process), position-poll rate as a
//! fraction of the wire limit on the wire-timed simulator, abort latency (request → ABORT written,
//! request → simulated axis still), and ring drain throughput.
//! Run: `cargo bench -p aefi-scan-engine --bench engine` (AEFI_BENCH_SECONDS shortens the runs).
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::{Axis as ArcusAxis, Command, SpeedParam};
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::plan::FlyPlan;
use aefi_scan_engine::engine::record::{drain_columns, ring, Record};
use aefi_sim::opener::BenchOpener;
use aefi_sim::trigger_bench::{trigger_benchmark, BenchDetector};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn lateness_rows(seconds: f64) {
    println!("{:<34} {:>9} {:>9} {:>10} {:>8} {:>6}", "trigger lateness", "p50 µs", "p99 µs", "max µs", "missed", "FIFO");
    for load in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let spinner = load.then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        });
        for rate in [1000.0, 5000.0] {
            match trigger_benchmark(rate, seconds, true, BenchDetector::VirtualProbe) {
                Ok(b) => println!(
                    "{:<34} {:>9.1} {:>9.1} {:>10.1} {:>8} {:>6}",
                    format!("{} Hz, {} s{}", rate, seconds, if load { ", CPU-bound thread" } else { "" }),
                    b.lateness.p50,
                    b.lateness.p99,
                    b.lateness.max,
                    b.missed,
                    if b.rt.fifo { "yes" } else { "no" }
                ),
                Err(e) => println!("{rate} Hz: {e}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = spinner {
            let _ = h.join();
        }
    }
    if let Ok(b) = trigger_benchmark(100.0, 0.05, true, BenchDetector::VirtualProbe) {
        println!("RT set-up: {}", b.rt.detail);
    }
}

fn poll_rows() {
    println!();
    println!("{:<34} {:>9} {:>12} {:>9}", "position polls (fly line, sim)", "polls/s", "wire limit/s", "fraction");
    for baud in [9600u32, 38400, 115200] {
        let url = format!("sim://bench-polls-{baud}?baud={baud}");
        let Ok(mut c) = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)) else { continue };
        let _ = c.transact(&Command::SetParam(SpeedParam::HighSpeed, None, 1500));
        let _ = c.set_speeds(ArcusAxis::X, None, Some(10), Some(100), Some(100));
        let plan = FlyPlan { fast_stop_steps: 1500, slow_axis: None, speed_pps: 1500.0, realtime: false, ..FlyPlan::default() };
        match start(&plan, ArcusStage::new(Box::new(c)), Box::new(NoDetector)) {
            Ok(scan) => {
                let s = scan.join(Some(Duration::from_secs(60)));
                println!(
                    "{:<34} {:>9.1} {:>12.1} {:>8.1}%",
                    format!("{baud} baud"),
                    s.poll_rate_hz,
                    s.wire_limit_hz,
                    100.0 * s.poll_rate_hz / s.wire_limit_hz
                );
            }
            Err(e) => println!("{baud} baud: {e}"),
        }
    }
}

/// When the simulated axis stood still after `t_req` (ns after it), from the ground truth.
fn stop_after_ns(truth: &aefi_sim::bench::SimTruth, t_req: i64) -> i64 {
    use aefi_scan_engine::engine::detector::TruthSource;
    let at = |t| truth.true_steps(aefi_scan_engine::engine::plan::Axis::X, t);
    let rest = at(t_req + 2_000_000_000);
    let (mut lo, mut hi) = (t_req, t_req + 2_000_000_000);
    while hi - lo > 10_000 {
        let mid = lo + (hi - lo) / 2;
        if (at(mid) - rest).abs() < 1e-9 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi - t_req
}

fn abort_rows() {
    println!();
    println!("{:<34} {:>12} {:>14}", "abort mid-line (sim, 5 runs)", "ABORT sent", "axis stopped");
    for baud in [9600u32, 38400, 115200] {
        let (mut sent, mut stopped) = (Vec::new(), Vec::new());
        for run in 0..5 {
            let url = format!("sim://bench-abort-{baud}-{run}?baud={baud}");
            let Ok(mut c) = ArcusController::open(&BenchOpener, &url, Duration::from_secs(1)) else { continue };
            let _ = c.transact(&Command::SetParam(SpeedParam::HighSpeed, None, 1500));
            let _ = c.set_speeds(ArcusAxis::X, None, Some(10), Some(100), Some(100));
            let Some(truth) = aefi_sim::bench::sim_truth_for_url(&url) else { continue };
            let plan = FlyPlan { fast_stop_steps: 6000, slow_axis: None, speed_pps: 1500.0, realtime: false, ..FlyPlan::default() };
            let Ok(scan) = start(&plan, ArcusStage::new(Box::new(c)), Box::new(NoDetector)) else { continue };
            while scan.progress().samples < 100 + 37 * run as u64 && !scan.is_finished() {
                std::thread::sleep(Duration::from_millis(3));
            }
            let t_req = aefi_scan_engine::clock::mono_ns();
            scan.abort();
            let s = scan.join(Some(Duration::from_secs(10)));
            if let Some(ms) = s.abort_latency_ms {
                sent.push(ms);
                stopped.push(stop_after_ns(&truth, t_req) as f64 * 1e-6);
            }
        }
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!("{:<34} {:>9.1} ms {:>11.1} ms", format!("{baud} baud (max of {})", sent.len()), max(&sent), max(&stopped));
    }
}

fn drain_rows() {
    println!();
    let n = 1 << 22;
    let (mut w, mut c, _) = ring(n);
    for i in 0..n {
        w.push(Record { t_ns: i as i64, ..Record::default() });
    }
    let t = Instant::now();
    let mut got = 0;
    while got < n {
        got += drain_columns(&mut c, Some(1 << 18)).len();
    }
    let dt = t.elapsed().as_secs_f64();
    println!("{:<34} {:>9.1} M records/s ({} records in chunks of 262144)", "drain into columns", n as f64 / dt / 1e6, n);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = std::env::var("AEFI_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    lateness_rows(seconds);
    poll_rows();
    abort_rows();
    drain_rows();
}
