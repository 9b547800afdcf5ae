//! Absolute-deadline pacing of software triggers, and the real-time set-up of the thread.
//!
//! Deadline k is `start + k × period`, never "now + period", so lateness never accumulates.
//! Waiting is a `clock_nanosleep(TIMER_ABSTIME)` to a little before the deadline, then a spin on
//! the monotonic clock for the last stretch (the kernel's wake-up latency is larger than what a
//! 1 kHz trigger tolerates). Lateness goes into an HdrHistogram allocated up front; a deadline
//! that passed entirely before the loop got to it is skipped and counted as missed (the schedule
//! stays absolute). The RT set-up (SCHED_FIFO, one pinned core) is attempted and reported; when
//! the OS refuses, the pacer runs anyway.
use crate::clock::mono_ns;
use hdrhistogram::Histogram;

/// How long before a deadline the pacer stops sleeping and spins (ns).
pub const DEFAULT_SPIN_NS: i64 = 200_000;

/// What the real-time set-up obtained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtReport {
    /// SCHED_FIFO was granted.
    pub fifo: bool,
    /// The CPU the thread was pinned to, if pinning worked.
    pub pinned_cpu: Option<usize>,
    /// What was tried and what the OS said.
    pub detail: String,
}

/// Asks for SCHED_FIFO (priority `priority`) and pins the calling thread to the last CPU.
/// Never fails: what was obtained is reported.
pub fn make_realtime(priority: i32) -> RtReport {
    let mut report = RtReport::default();
    let mut notes = Vec::new();
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: priority };
        // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param that
        // outlives the call.
        let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc == 0 {
            report.fifo = true;
            notes.push(format!("SCHED_FIFO priority {priority}"));
        } else {
            notes.push(format!("SCHED_FIFO refused ({})", std::io::Error::from_raw_os_error(rc)));
        }
        // SAFETY: sysconf has no memory-safety preconditions.
        let ncpu = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if ncpu > 0 {
            let cpu = (ncpu - 1) as usize;
            // SAFETY: `set` is a zeroed cpu_set_t owned by this frame; CPU_SET writes inside it
            // (cpu < ncpu ≤ CPU_SETSIZE) and the size passed matches the type.
            let rc = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
            };
            if rc == 0 {
                report.pinned_cpu = Some(cpu);
                notes.push(format!("pinned to CPU {cpu} of {ncpu}"));
            } else {
                notes.push(format!("pinning refused ({})", std::io::Error::last_os_error()));
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = priority;
        notes.push("real-time scheduling is only attempted on Linux".to_string());
    }
    report.detail = notes.join("; ");
    report
}

/// Sleeps until the monotonic instant `t_ns` (absolute), or returns at once if it has passed.
pub fn sleep_until(t_ns: i64) {
    #[cfg(target_os = "linux")]
    {
        let ts = libc::timespec { tv_sec: t_ns.div_euclid(1_000_000_000) as _, tv_nsec: t_ns.rem_euclid(1_000_000_000) as _ };
        // EINTR: retry until the deadline; other errors cannot happen with these arguments.
        // SAFETY: `ts` is a valid timespec; the remainder pointer may be null with TIMER_ABSTIME.
        while unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) } == libc::EINTR {}
    }
    #[cfg(not(target_os = "linux"))]
    {
        let now = mono_ns();
        if t_ns > now {
            std::thread::sleep(std::time::Duration::from_nanos((t_ns - now) as u64));
        }
    }
}

/// One tick of the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Index of the deadline met (skipped deadlines are not returned).
    pub index: u64,
    /// The deadline (ns).
    pub deadline_ns: i64,
    /// When the loop got control (ns, ≥ deadline).
    pub now_ns: i64,
    /// Deadlines skipped just before this one.
    pub missed_before: u64,
}

/// An absolute-deadline pacer.
#[derive(Debug)]
pub struct Pacer {
    start_ns: i64,
    period_ns: f64,
    spin_ns: i64,
    next: u64,
    lateness_ns: Histogram<u64>,
    missed: u64,
}

impl Pacer {
    /// A pacer whose deadline 0 is at `start_ns`, then every `1/rate_hz`.
    ///
    /// # Errors
    /// The rate must be finite and positive.
    pub fn new(start_ns: i64, rate_hz: f64) -> Result<Self, String> {
        if !(rate_hz.is_finite() && rate_hz > 0.0) {
            return Err(format!("rate_hz must be > 0, got {rate_hz}"));
        }
        let lateness_ns = Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
        let period_ns = 1e9 / rate_hz;
        // Spinning most of a short period would keep a SCHED_FIFO thread on the CPU nearly all
        // the time, and the kernel's RT throttling then parks it for tens of ms each second.
        let spin_ns = DEFAULT_SPIN_NS.min((period_ns / 4.0) as i64);
        Ok(Self { start_ns, period_ns, spin_ns, next: 0, lateness_ns, missed: 0 })
    }

    /// The period (ns).
    pub fn period_ns(&self) -> f64 {
        self.period_ns
    }

    fn deadline(&self, k: u64) -> i64 {
        self.start_ns + (k as f64 * self.period_ns).round() as i64
    }

    /// The next deadline (ns).
    pub fn next_deadline_ns(&self) -> i64 {
        self.deadline(self.next)
    }

    /// Waits for the next deadline (sleep, then spin) and returns the tick. Deadlines already
    /// a whole period in the past are skipped and counted as missed.
    pub fn wait(&mut self) -> Tick {
        let mut deadline = self.deadline(self.next);
        let now = mono_ns();
        let mut missed_before = 0;
        // A deadline is lost when the next one has passed too: skip to the latest passed one.
        while self.deadline(self.next + 1) <= now {
            self.next += 1;
            missed_before += 1;
        }
        if missed_before > 0 {
            deadline = self.deadline(self.next);
            self.missed += missed_before;
        }
        if deadline - now > self.spin_ns {
            sleep_until(deadline - self.spin_ns);
        }
        let mut t = mono_ns();
        while t < deadline {
            std::hint::spin_loop();
            t = mono_ns();
        }
        self.lateness_ns.saturating_record((t - deadline).max(1) as u64);
        let tick = Tick { index: self.next, deadline_ns: deadline, now_ns: t, missed_before };
        self.next += 1;
        tick
    }

    /// Deadlines missed so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The lateness histogram (ns).
    pub fn lateness(&self) -> &Histogram<u64> {
        &self.lateness_ns
    }
}

/// Lateness summary (µs) of a histogram in ns.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatenessUs {
    /// Median (µs).
    pub p50: f64,
    /// 99th percentile (µs).
    pub p99: f64,
    /// Maximum (µs).
    pub max: f64,
    /// Ticks recorded.
    pub count: u64,
}

impl LatenessUs {
    /// Summarises `h` (values in ns).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.5) as f64 / 1e3,
            p99: h.value_at_quantile(0.99) as f64 / 1e3,
            max: h.max() as f64 / 1e3,
            count: h.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute_and_never_early() {
        let start = mono_ns() + 1_000_000;
        let mut p = Pacer::new(start, 2000.0).unwrap();
        let mut last_index = None;
        for _ in 0..20 {
            let t = p.wait();
            assert!(t.now_ns >= t.deadline_ns);
            assert_eq!(t.deadline_ns, start + t.index as i64 * 500_000);
            if let Some(li) = last_index {
                assert_eq!(t.index, li + 1 + t.missed_before);
            }
            last_index = Some(t.index);
        }
        assert_eq!(LatenessUs::of(p.lateness()).count, 20);
    }

    #[test]
    fn a_stall_skips_deadlines_and_counts_them() {
        let start = mono_ns();
        let mut p = Pacer::new(start, 1000.0).unwrap();
        p.wait();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t = p.wait();
        assert!(t.missed_before >= 15, "{t:?}");
        assert_eq!(p.missed(), t.missed_before);
        // the schedule stayed absolute
        assert_eq!((t.deadline_ns - start) % 1_000_000, 0);
    }

    #[test]
    fn rt_setup_reports_without_failing() {
        let r = std::thread::spawn(|| make_realtime(10)).join().unwrap();
        assert!(!r.detail.is_empty());
    }

    #[test]
    fn bad_rate_is_refused() {
        assert!(Pacer::new(0, 0.0).is_err());
        assert!(Pacer::new(0, f64::NAN).is_err());
    }
}
