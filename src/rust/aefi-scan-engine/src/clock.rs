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
