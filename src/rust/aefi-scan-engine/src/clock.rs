//! One monotonic time base for every timestamp in the project.
//!
//! All stamps are nanoseconds of the OS's monotonic high-resolution counter: `CLOCK_MONOTONIC`
//! on Linux and macOS (the clock behind Python's `time.monotonic_ns()` there), the
//! QueryPerformanceCounter on Windows (sub-µs, where Python's `time.monotonic_ns()` may tick
//! in 15.6 ms steps). Python stamps with `_engine.now_ns()`, so every stamp (a simulator in
//! another process, the engine, Python) is on the same clock and compares directly.

/// Nanoseconds of the monotonic clock (see the module documentation).
///
/// ```
/// let a = aefi_scan_engine::clock::mono_ns();
/// let b = aefi_scan_engine::clock::mono_ns();
/// assert!(b >= a);
/// ```
#[cfg(unix)]
pub fn mono_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on the
    // supported Unix platforms (Linux, macOS); the call cannot fail with these arguments.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    // time_t and c_long are 32-bit on 32-bit targets: the casts are not no-ops everywhere.
    #[allow(clippy::unnecessary_cast)]
    let ns = ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64;
    ns
}

/// Nanoseconds of the monotonic clock (see the module documentation).
#[cfg(windows)]
pub fn mono_ns() -> i64 {
    use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
    static FREQ_HZ: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let freq = *FREQ_HZ.get_or_init(|| {
        let mut f = 0i64;
        // SAFETY: `f` is a valid, writable i64; the call cannot fail on Windows XP and later.
        unsafe { QueryPerformanceFrequency(&mut f) };
        f.max(1)
    });
    let mut count = 0i64;
    // SAFETY: as above: a valid, writable i64; cannot fail on Windows XP and later.
    unsafe { QueryPerformanceCounter(&mut count) };
    counter_to_ns(count, freq)
}

/// Counter ticks at `freq_hz` as nanoseconds, without overflow for any uptime.
#[cfg_attr(not(windows), allow(dead_code))]
fn counter_to_ns(count: i64, freq_hz: i64) -> i64 {
    (i128::from(count) * 1_000_000_000 / i128::from(freq_hz.max(1))) as i64
}

/// A source of time the engine, the pacer and the simulators are given, so that logic tests
/// run on a [`ManualClock`] (advance by dt) instead of wall-clock sleeps.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in the engine's time base (ns).
    fn now_ns(&self) -> i64;

    /// Returns once `now_ns() >= t_ns`.
    fn sleep_until_ns(&self, t_ns: i64);
}

/// The real monotonic clock ([`mono_ns`]); sleeping is the OS's absolute-deadline sleep.
#[derive(Debug, Default, Clone, Copy)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now_ns(&self) -> i64 {
        mono_ns()
    }

    fn sleep_until_ns(&self, t_ns: i64) {
        crate::engine::pacer::sleep_until(t_ns);
    }
}

/// A clock that only moves when told: [`ManualClock::advance_ns`], or a sleep, which jumps
/// straight to its deadline (a test thread "sleeps" in zero wall time).
///
/// ```
/// use aefi_scan_engine::clock::{Clock, ManualClock};
/// let c = ManualClock::new(1_000);
/// c.advance_ns(500);
/// c.sleep_until_ns(10_000);
/// assert_eq!(c.now_ns(), 10_000);
/// c.sleep_until_ns(5_000); // the past: no change
/// assert_eq!(c.now_ns(), 10_000);
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    now: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl ManualClock {
    /// A clock reading `start_ns`; clones share the same time.
    pub fn new(start_ns: i64) -> Self {
        Self { now: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(start_ns)) }
    }

    /// Moves the time forward by `dt_ns` (negative values are ignored: time never goes back).
    pub fn advance_ns(&self, dt_ns: i64) {
        self.now.fetch_add(dt_ns.max(0), std::sync::atomic::Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> i64 {
        self.now.load(std::sync::atomic::Ordering::Acquire)
    }

    fn sleep_until_ns(&self, t_ns: i64) {
        self.now.fetch_max(t_ns, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_ticks_become_nanoseconds_without_overflow() {
        assert_eq!(counter_to_ns(10_000_000, 10_000_000), 1_000_000_000);
        // 200 days of uptime at a 10 MHz counter: the product overflows i64, not i128
        let ticks = 200 * 86_400 * 10_000_000i64;
        assert_eq!(counter_to_ns(ticks, 10_000_000), 200 * 86_400 * 1_000_000_000);
        assert_eq!(counter_to_ns(3, 3_000_000_000), 1);
    }

    #[test]
    fn monotonic_and_nanoseconds() {
        let a = mono_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = mono_ns();
        assert!(b - a >= 2_000_000, "elapsed {} ns", b - a);
    }
}
