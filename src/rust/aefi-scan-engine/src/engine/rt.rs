//! Memory for the real-time thread: buffers faulted in before the scan flies, and the process'
//! memory locked while a scan with real-time scheduling runs.
//!
//! A fresh allocation is only address space: the kernel maps each 4 KiB page on its first write,
//! a page fault of microseconds (more under memory pressure). The real-time producer writing a
//! 100 MB record ring would take those faults one page at a time, in the loop. So every buffer
//! the loop writes (the record ring, the queue of records waiting for polls, the lateness
//! histogram, the top of the thread's stack) is written once before the loop starts
//! ([`prefault_bytes`] and the `prefault` methods of the buffers), and while a real-time scan runs
//! the process' resident memory is locked ([`MemoryLock`], `mlockall`) so that none of it is
//! paged out under the loop.
//!
//! [`rt_section`] marks the body of the real-time loop; with the `alloc-guard` feature (tests
//! only) it is wrapped in `assert_no_alloc`, so a test's allocator catches any allocation there.
use std::sync::Mutex;

/// Page size assumed for touching (the smallest the supported platforms use).
pub const PAGE_BYTES: usize = 4096;
/// Stack the real-time loop may use, faulted in before it starts (bytes).
pub const STACK_PREFAULT_BYTES: usize = 128 * 1024;

/// Writes one byte in every page of `len` bytes at `ptr`, so that the pages are mapped.
///
/// # Safety
/// `ptr..ptr + len` must be memory this thread may write (its contents are not read, and the
/// bytes written are zeros: use it on memory not yet initialised or about to be overwritten).
pub unsafe fn prefault_bytes(ptr: *mut u8, len: usize) -> usize {
    let mut off = 0;
    while off < len {
        // SAFETY: off < len, so the byte is inside the range the caller vouches for.
        unsafe { std::ptr::write_volatile(ptr.add(off), 0) };
        off += PAGE_BYTES;
    }
    if len > 0 {
        // SAFETY: len - 1 < len: the last byte of the range.
        unsafe { std::ptr::write_volatile(ptr.add(len - 1), 0) };
    }
    len
}

/// Faults in the spare capacity of `buf` (its memory beyond `len`); returns the bytes touched.
pub fn prefault_spare<T>(buf: &mut Vec<T>) -> usize {
    let spare = buf.spare_capacity_mut();
    let bytes = std::mem::size_of_val(spare);
    // SAFETY: the spare capacity is memory the vector owns and does not read; writing zeros into
    // it leaves it uninitialised as far as the vector is concerned.
    unsafe { prefault_bytes(spare.as_mut_ptr().cast::<u8>(), bytes) }
}

/// Faults in [`STACK_PREFAULT_BYTES`] of the calling thread's stack; returns the bytes touched.
#[inline(never)]
pub fn prefault_stack() -> usize {
    let mut block = [0u8; STACK_PREFAULT_BYTES];
    // the array's zeroing writes every page; black_box keeps it from being optimised away
    std::hint::black_box(&mut block);
    STACK_PREFAULT_BYTES
}

/// Runs the body of the real-time loop. In a build with the `alloc-guard` feature (the engine's
/// allocation test), any allocation inside is reported by `assert_no_alloc`'s allocator.
#[inline(always)]
pub fn rt_section<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(feature = "alloc-guard")]
    {
        assert_no_alloc::assert_no_alloc(body)
    }
    #[cfg(not(feature = "alloc-guard"))]
    {
        body()
    }
}

/// How many scans hold the memory lock (the lock is process-wide: the last one out unlocks).
static LOCKS: Mutex<usize> = Mutex::new(0);

/// The process' memory locked for the life of the guard (`mlockall`), shared by concurrent scans.
#[derive(Debug)]
pub struct MemoryLock {
    locked: bool,
}

impl MemoryLock {
    /// Locks the pages resident now in memory (Linux; reserved pages never touched stay
    /// unmapped: `MCL_ONFAULT`). Later allocations are not locked (`MCL_FUTURE` would make any
    /// allocation of the host process fail past `RLIMIT_MEMLOCK`): the loop's buffers are
    /// faulted in before this. Never fails: `locked()` and the detail say what
    /// the OS granted.
    pub fn acquire() -> (MemoryLock, String) {
        let mut count = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        if *count > 0 {
            *count += 1;
            return (MemoryLock { locked: true }, "memory locked (mlockall, held by another scan too)".into());
        }
        match lock_all() {
            Ok(how) => {
                *count = 1;
                (MemoryLock { locked: true }, format!("memory locked ({how})"))
            }
            Err(e) => (MemoryLock { locked: false }, format!("mlockall refused ({e})")),
        }
    }

    /// The memory is locked.
    pub fn locked(&self) -> bool {
        self.locked
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        if !self.locked {
            return;
        }
        let mut count = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        *count = count.saturating_sub(1);
        if *count == 0 {
            unlock_all();
        }
    }
}

#[cfg(target_os = "linux")]
fn lock_all() -> Result<&'static str, std::io::Error> {
    // MCL_ONFAULT (Linux 4.4) is 4 on these architectures; without it every reserved page of the
    // process (thread stacks, allocator arenas) would be faulted in.
    #[cfg(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64", target_arch = "arm", target_arch = "riscv64"))]
    {
        const MCL_ONFAULT: libc::c_int = 4;
        // SAFETY: mlockall takes flags only and has no memory-safety preconditions.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | MCL_ONFAULT) } == 0 {
            return Ok("mlockall MCL_CURRENT|MCL_ONFAULT");
        }
    }
    // SAFETY: as above.
    if unsafe { libc::mlockall(libc::MCL_CURRENT) } == 0 {
        Ok("mlockall MCL_CURRENT")
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(target_os = "linux")]
fn unlock_all() {
    // SAFETY: munlockall has no arguments and no memory-safety preconditions.
    unsafe { libc::munlockall() };
}

#[cfg(not(target_os = "linux"))]
fn lock_all() -> Result<&'static str, std::io::Error> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "memory locking is only attempted on Linux"))
}

#[cfg(not(target_os = "linux"))]
fn unlock_all() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefaulting_touches_the_spare_capacity_and_keeps_the_contents() {
        let mut v: Vec<u64> = Vec::with_capacity(10_000);
        v.extend([7, 8, 9]);
        assert_eq!(prefault_spare(&mut v), (10_000 - 3) * 8);
        assert_eq!(v, [7, 8, 9]);
        assert_eq!(prefault_stack(), STACK_PREFAULT_BYTES);
    }

    #[test]
    fn memory_lock_is_shared_and_released() {
        let (a, detail_a) = MemoryLock::acquire();
        assert!(!detail_a.is_empty());
        let (b, detail_b) = MemoryLock::acquire();
        if a.locked() {
            assert!(b.locked(), "{detail_b}");
        }
        drop(a);
        drop(b);
    }
}
