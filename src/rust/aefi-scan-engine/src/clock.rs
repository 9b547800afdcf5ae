//! One monotonic time base for every timestamp in the project.
//!
//! All stamps are nanoseconds of `CLOCK_MONOTONIC`, the clock behind Python's
//! `time.monotonic_ns()` and `std::time::Instant` on Linux. Using the raw value (not an
//! `Instant`) lets a simulator in another process, the engine and Python compare stamps directly.

/// Nanoseconds of `CLOCK_MONOTONIC` (same value as Python's `time.monotonic_ns()`).
///
/// ```
/// let a = aefi_scan_engine::clock::mono_ns();
/// let b = aefi_scan_engine::clock::mono_ns();
/// assert!(b >= a);
/// ```
pub fn mono_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on the
    // supported platforms (Linux, macOS); the call cannot fail with these arguments.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
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
    fn monotonic_and_nanoseconds() {
        let a = mono_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = mono_ns();
        assert!(b - a >= 2_000_000, "elapsed {} ns", b - a);
    }
}
