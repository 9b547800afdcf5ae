//! Absolute-deadline pacing of software triggers, and the real-time set-up of the thread.
//!
//! Deadline k is `start + k × period`, never "now + period", so lateness never accumulates.
//! Waiting is a `clock_nanosleep(TIMER_ABSTIME)` to a little before the deadline, then a spin on
//! the monotonic clock for the last stretch (the kernel's wake-up latency is larger than what a
//! 1 kHz trigger tolerates). Lateness goes into an HdrHistogram allocated up front; a deadline
//! that passed entirely before the loop got to it is skipped and counted as missed (the schedule
//! stays absolute). The RT set-up (SCHED_FIFO, one pinned core) is attempted and reported; when
//! the OS refuses, the pacer runs anyway.
use crate::clock::{Clock, MonotonicClock};
use hdrhistogram::Histogram;

/// How long before a deadline the pacer stops sleeping and spins (ns).
pub const DEFAULT_SPIN_NS: i64 = 200_000;

/// What the real-time set-up obtained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtReport {
    /// A real-time priority was granted: SCHED_FIFO on Linux, THREAD_PRIORITY_TIME_CRITICAL on
    /// Windows (with the 1 ms timer period, MMCSS "Pro Audio" and power throttling off, as `detail`
    /// says).
    pub fifo: bool,
    /// The CPU the thread was pinned to, if pinning worked.
    pub pinned_cpu: Option<usize>,
    /// The process' memory was locked (`mlockall`) for the scan.
    pub mlocked: bool,
    /// Bytes of the loop's buffers (record ring, pending queue, histogram, stack) faulted in
    /// before the loop started.
    pub prefaulted_bytes: u64,
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
    #[cfg(windows)]
    {
        let _ = priority;
        let (granted, windows_notes) = super::rt_windows::make_realtime();
        report.fifo = granted;
        notes.extend(windows_notes);
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = priority;
        notes.push("real-time scheduling is attempted on Linux and Windows only".to_string());
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
    #[cfg(windows)]
    super::rt_windows::sleep_until(t_ns);
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let now = crate::clock::mono_ns();
        if t_ns > now {
            std::thread::sleep(std::time::Duration::from_nanos((t_ns - now) as u64));
        }
    }
}

/// Reads of an unmoving clock after which a spin gives up and sleeps to the deadline.
const STUCK_READS: u32 = 64;

/// Waits until `clock` reads `t_ns` or later: a sleep to `spin_ns` before it, then a spin on the
/// clock (the kernel's wake-up latency is larger than a 1 kHz trigger tolerates). A clock that
/// does not move while it is spun on is a stepped one (a [`ManualClock`](crate::clock::ManualClock)):
/// it is told to sleep to the deadline, which moves it there. Returns the clock's reading.
pub fn wait_until<C: Clock + ?Sized>(clock: &C, t_ns: i64, spin_ns: i64) -> i64 {
    let mut t = clock.now_ns();
    if t_ns - t > spin_ns {
        clock.sleep_until_ns(t_ns - spin_ns);
        t = clock.now_ns();
    }
    let mut stuck = 0;
    while t < t_ns {
        std::hint::spin_loop();
        let again = clock.now_ns();
        stuck = if again == t { stuck + 1 } else { 0 };
        if stuck >= STUCK_READS {
            clock.sleep_until_ns(t_ns);
        }
        t = again.max(clock.now_ns());
    }
    t
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

/// An absolute-deadline pacer on a [`Clock`] (the monotonic clock unless told otherwise).
#[derive(Debug)]
pub struct Pacer<C: Clock = MonotonicClock> {
    clock: C,
    start_ns: i64,
    period_ns: f64,
    spin_ns: i64,
    next: u64,
    lateness_ns: Histogram<u64>,
    missed: u64,
}

impl Pacer {
    /// A pacer on the monotonic clock whose deadline 0 is at `start_ns`, then every `1/rate_hz`.
    ///
    /// # Errors
    /// The rate must be finite and positive.
    pub fn new(start_ns: i64, rate_hz: f64) -> Result<Self, String> {
        Pacer::with_clock(MonotonicClock, start_ns, rate_hz)
    }
}

impl<C: Clock> Pacer<C> {
    /// A pacer on `clock` whose deadline 0 is at `start_ns`, then every `1/rate_hz`.
    ///
    /// # Errors
    /// The rate must be finite and positive.
    pub fn with_clock(clock: C, start_ns: i64, rate_hz: f64) -> Result<Self, String> {
        if !(rate_hz.is_finite() && rate_hz > 0.0) {
            return Err(format!("rate_hz must be > 0, got {rate_hz}"));
        }
        let lateness_ns = Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
        let period_ns = 1e9 / rate_hz;
        // Spinning most of a short period would keep a SCHED_FIFO thread on the CPU nearly all
        // the time, and the kernel's RT throttling then parks it for tens of ms each second.
        let spin_ns = DEFAULT_SPIN_NS.min((period_ns / 4.0) as i64);
        Ok(Self { clock, start_ns, period_ns, spin_ns, next: 0, lateness_ns, missed: 0 })
    }

    /// Moves deadline 0 to `start_ns` (the schedule restarts from there; counts are kept).
    pub fn start_at(&mut self, start_ns: i64) {
        self.start_ns = start_ns;
        self.next = 0;
    }

    /// Faults in the lateness histogram (it is zeroed, which writes every page); returns the
    /// bytes touched.
    pub fn prefault(&mut self) -> usize {
        self.lateness_ns.reset();
        self.lateness_ns.distinct_values() * std::mem::size_of::<u64>()
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
        let now = self.clock.now_ns();
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
        let t = wait_until(&self.clock, deadline, self.spin_ns);
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

    use crate::clock::{mono_ns, ManualClock};

    /// Real clock (wall time): the OS sleep and the spin meet every deadline, never early.
    #[test]
    fn deadlines_are_absolute_and_never_early_on_the_real_clock() {
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
    fn ticks_land_on_the_deadlines_of_a_stepped_clock() {
        let clock = ManualClock::new(5_000);
        let mut p = Pacer::with_clock(clock.clone(), 1_000_000, 1000.0).unwrap();
        for k in 0..50 {
            let t = p.wait();
            assert_eq!((t.index, t.deadline_ns, t.now_ns, t.missed_before), (k, 1_000_000 + k as i64 * 1_000_000, t.deadline_ns, 0));
        }
        assert_eq!(clock.now_ns(), 50_000_000);
        assert_eq!(LatenessUs::of(p.lateness()).count, 50);
        assert_eq!(p.missed(), 0);
    }

    #[test]
    fn a_stall_skips_deadlines_and_counts_them() {
        let clock = ManualClock::new(0);
        let mut p = Pacer::with_clock(clock.clone(), 0, 1000.0).unwrap();
        p.wait();
        // the loop was held up 20.3 ms: deadlines 1..=19 are lost, 20 is met 0.3 ms late
        clock.advance_ns(20_300_000);
        let t = p.wait();
        assert_eq!((t.index, t.missed_before, t.now_ns - t.deadline_ns), (20, 19, 300_000), "{t:?}");
        assert_eq!(p.missed(), 19);
        // the schedule stayed absolute
        assert_eq!(p.wait().deadline_ns, 21_000_000);
        // the histogram keeps 3 significant digits
        assert!((LatenessUs::of(p.lateness()).max - 300.0).abs() < 0.5);
    }

    #[test]
    fn a_restarted_schedule_counts_from_its_new_start() {
        let clock = ManualClock::new(0);
        let mut p = Pacer::with_clock(clock.clone(), 0, 500.0).unwrap();
        assert!(p.prefault() > 0);
        p.start_at(7_000_000);
        assert_eq!(p.wait().deadline_ns, 7_000_000);
        assert_eq!(p.wait().deadline_ns, 9_000_000);
        assert_eq!(wait_until(&clock, 9_500_000, DEFAULT_SPIN_NS), 9_500_000);
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
