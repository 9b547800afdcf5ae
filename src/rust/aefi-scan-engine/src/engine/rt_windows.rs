//! Real-time set-up and precise sleeps on Windows, the bench PC's OS.
//!
//! What Windows offers instead of SCHED_FIFO, all asked for and reported, none required:
//! - `timeBeginPeriod(1)`: the system timer at 1 ms for the scan (undone when the thread ends);
//! - `THREAD_PRIORITY_TIME_CRITICAL` for the trigger thread;
//! - the MMCSS "Pro Audio" task (the scheduler class audio engines use), reverted at thread end;
//! - power throttling (EcoQoS) off for the thread, so a laptop-class CPU does not slow it.
//!
//! Sleeps use a high-resolution waitable timer (Windows 10 1803+; a plain `Sleep` rounds to the
//! timer period), then the pacer spins the last stretch on QueryPerformanceCounter.
use std::cell::RefCell;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Media::{timeBeginPeriod, timeEndPeriod};
use windows_sys::Win32::System::Threading::{
    AvRevertMmThreadCharacteristics, AvSetMmThreadCharacteristicsW, CreateWaitableTimerExW, GetCurrentThread, SetThreadInformation,
    SetThreadPriority, SetWaitableTimer, ThreadPowerThrottling, WaitForSingleObject, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, INFINITE,
    THREAD_POWER_THROTTLING_CURRENT_VERSION, THREAD_POWER_THROTTLING_EXECUTION_SPEED, THREAD_POWER_THROTTLING_STATE,
    THREAD_PRIORITY_TIME_CRITICAL, TIMER_ALL_ACCESS,
};

/// What the thread was granted; undone when the thread ends (the guard lives in a thread-local).
#[derive(Debug, Default)]
struct Granted {
    timer_period_ms: Option<u32>,
    mmcss: Option<HANDLE>,
    timer: Option<HANDLE>,
}

impl Drop for Granted {
    fn drop(&mut self) {
        if let Some(h) = self.mmcss.take() {
            // SAFETY: `h` came from AvSetMmThreadCharacteristicsW on this thread and is reverted once.
            unsafe { AvRevertMmThreadCharacteristics(h) };
        }
        if let Some(ms) = self.timer_period_ms.take() {
            // SAFETY: pairs the successful timeBeginPeriod(ms) of this thread; no pointers involved.
            unsafe { timeEndPeriod(ms) };
        }
        if let Some(h) = self.timer.take() {
            // SAFETY: `h` is the waitable timer this thread created and nothing else closes it.
            unsafe { CloseHandle(h) };
        }
    }
}

thread_local! {
    static GRANTED: RefCell<Granted> = RefCell::new(Granted::default());
}

/// Asks for everything listed in the module documentation; returns (time-critical priority
/// granted, what was tried and what Windows said).
pub(crate) fn make_realtime() -> (bool, Vec<String>) {
    let mut notes = Vec::new();
    // SAFETY: GetCurrentThread returns a pseudo-handle valid on this thread; no memory involved.
    let thread = unsafe { GetCurrentThread() };
    // SAFETY: a pseudo-handle of the calling thread and a documented priority constant.
    let priority = unsafe { SetThreadPriority(thread, THREAD_PRIORITY_TIME_CRITICAL) } != 0;
    notes.push(if priority { "THREAD_PRIORITY_TIME_CRITICAL".to_string() } else { "time-critical priority refused".to_string() });
    GRANTED.with(|g| {
        let mut g = g.borrow_mut();
        // SAFETY: no pointers; a 1 ms period is always within the timer's capabilities.
        if g.timer_period_ms.is_none() && unsafe { timeBeginPeriod(1) } == 0 {
            g.timer_period_ms = Some(1);
            notes.push("timer period 1 ms".into());
        }
        if g.mmcss.is_none() {
            let task: Vec<u16> = "Pro Audio\0".encode_utf16().collect();
            let mut index = 0u32;
            // SAFETY: `task` is a NUL-terminated UTF-16 string and `index` a writable u32, both
            // alive for the call.
            let h = unsafe { AvSetMmThreadCharacteristicsW(task.as_ptr(), &mut index) };
            if h.is_null() {
                notes.push(format!("MMCSS Pro Audio refused ({})", std::io::Error::last_os_error()));
            } else {
                g.mmcss = Some(h);
                notes.push("MMCSS Pro Audio".into());
            }
        }
    });
    let state = THREAD_POWER_THROTTLING_STATE {
        Version: THREAD_POWER_THROTTLING_CURRENT_VERSION,
        ControlMask: THREAD_POWER_THROTTLING_EXECUTION_SPEED,
        StateMask: 0,
    };
    // SAFETY: `state` is a valid THREAD_POWER_THROTTLING_STATE and the size passed is its size.
    let ok = unsafe {
        SetThreadInformation(
            thread,
            ThreadPowerThrottling,
            (&state as *const THREAD_POWER_THROTTLING_STATE).cast(),
            size_of_val(&state) as u32,
        )
    } != 0;
    notes.push(if ok {
        "power throttling off".into()
    } else {
        format!("power throttling unchanged ({})", std::io::Error::last_os_error())
    });
    (priority, notes)
}

/// Sleeps until about `t_ns` (the engine's clock) on this thread's high-resolution waitable timer;
/// returns at once when `t_ns` has passed. Falls back to `std::thread::sleep` without the timer.
pub(crate) fn sleep_until(t_ns: i64) {
    let left_ns = t_ns - crate::clock::mono_ns();
    if left_ns <= 0 {
        return;
    }
    let timer = GRANTED.with(|g| {
        let mut g = g.borrow_mut();
        if g.timer.is_none() {
            // SAFETY: null attributes and name are allowed; the flags and access are documented
            // constants. A null result means "not available" (older Windows), handled below.
            let h = unsafe {
                CreateWaitableTimerExW(std::ptr::null(), std::ptr::null(), CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, TIMER_ALL_ACCESS)
            };
            if !h.is_null() {
                g.timer = Some(h);
            }
        }
        g.timer
    });
    match timer {
        Some(h) => {
            // negative: relative, in 100 ns units
            let due = -(left_ns / 100).max(1);
            // SAFETY: `h` is this thread's timer handle; `due` outlives the call; no completion
            // routine.
            let armed = unsafe { SetWaitableTimer(h, &due, 0, None, std::ptr::null(), 0) } != 0;
            if armed {
                // SAFETY: waits on a valid handle owned by this thread.
                unsafe { WaitForSingleObject(h, INFINITE) };
                return;
            }
            std::thread::sleep(std::time::Duration::from_nanos(left_ns as u64));
        }
        None => std::thread::sleep(std::time::Duration::from_nanos(left_ns as u64)),
    }
}
