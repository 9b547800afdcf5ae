//! A stand-in for Arcus's `PerformaxCom.dll`: the same seven entry points (`BOOL __stdcall`, i.e.
//! `extern "system"`), with the signatures of `PerformaxCom.h`, answering through the Arcus
//! simulator (`aefi-sim`) with the USB framing (64-byte NUL-terminated packets, unaddressed). The
//! `performax://N?dll=PATH` transport loads it exactly as it loads the vendor's DLL, so the driver,
//! the engine and the Python API are tested over that code path without the hardware.
//!
//! Devices `4ex00`, `4ex01`, … (USB serial strings; product string `Performax USB`), each its own
//! simulated PMX-4EX-SA that keeps its state for the life of the process, as a powered controller
//! does. Options come from the environment variable `AEFI_FAKE_PERFORMAX_OPTIONS`, read once, as
//! URL query text: `devices=4` (how many, default 4), `timing=usb|none` (default `usb`: each
//! command's reply is ready one USB frame after the call plus the controller's turnaround plus
//! one frame, [`usb_round_trip_ns`]; `none`: at once), `truth_log=PATH` (the motion log of device 0,
//! JSON, rewritten when the motion changes, as `aefi-arcus-sim --truth-log`), and any simulator
//! option of a `sim://` URL (`home=X=0`, `turnaround_us=200`, `limit=…`, `drop_every=…`), applied to
//! every device.
//!
//! Like the vendor's driver, a device has one opener at a time (a second `Open` fails until
//! `Close`), `SetTimeouts` is global, and a command the controller does not answer makes `SendRecv`
//! wait the read timeout and fail.
//!
//! [`usb_round_trip_ns`]: aefi_scan_engine::arcus::framing::usb_round_trip_ns
#![allow(non_snake_case)]

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::ThreadId;

use aefi_scan_engine::arcus::framing::{Framing, USB_FRAME_NS, USB_PACKET_BYTES};
use aefi_scan_engine::clock::mono_ns;
use aefi_sim::arcus::{ArcusSim, FrameOutcome, SimConfig};
use aefi_sim::bench::{lock_sim, sleep_until_ns};
use aefi_sim::serve::TruthLogWriter;

/// The environment variable holding the options.
pub const OPTIONS_ENV: &str = "AEFI_FAKE_PERFORMAX_OPTIONS";
/// Product string of every device.
pub const PRODUCT: &str = "Performax USB";

const TRUE: i32 = 1;
const FALSE: i32 = 0;
/// Handles are `HANDLE_BASE + index`: opaque, non-null, never dereferenced.
const HANDLE_BASE: usize = 0x4158_0000;

struct Device {
    sim: Arc<Mutex<ArcusSim>>,
    open: bool,
    truth: Option<TruthLogWriter>,
}

struct Fake {
    devices: Vec<Device>,
    usb_timing: bool,
    read_ms: u32,
    write_ms: u32,
    callers: HashSet<ThreadId>,
}

/// Parsed options: device count, USB timing, truth log path, simulator options.
type Options = (usize, bool, Option<String>, Vec<(String, String)>);

fn parse_options(text: &str) -> Result<Options, String> {
    let (mut devices, mut usb, mut truth, mut sim) = (4usize, true, None, Vec::new());
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("{OPTIONS_ENV}: {part:?} is not key=value"))?;
        match k {
            "devices" => devices = v.parse().ok().filter(|n| (1..=99).contains(n)).ok_or(format!("devices must be 1..=99 (got {v:?})"))?,
            "timing" => {
                usb = match v {
                    "usb" => true,
                    "none" => false,
                    _ => return Err(format!("timing must be usb or none (got {v:?})")),
                }
            }
            "truth_log" => truth = Some(v.to_string()),
            _ => sim.push((k.to_string(), v.to_string())),
        }
    }
    Ok((devices, usb, truth, sim))
}

fn build() -> Result<Mutex<Fake>, String> {
    let (n, usb_timing, truth, options) = parse_options(&std::env::var(OPTIONS_ENV).unwrap_or_default())?;
    let mut devices = Vec::with_capacity(n);
    for k in 0..n {
        let mut cfg = SimConfig::default();
        cfg.apply_option("device", &k.to_string())?;
        for (key, v) in &options {
            cfg.apply_option(key, v).map_err(|e| format!("{OPTIONS_ENV}: {e}"))?;
        }
        let truth = truth.as_ref().filter(|_| k == 0).map(|p| TruthLogWriter::new(p.into()));
        devices.push(Device { sim: Arc::new(Mutex::new(ArcusSim::new(cfg, mono_ns()))), open: false, truth });
    }
    Ok(Mutex::new(Fake { devices, usb_timing, read_ms: 1000, write_ms: 1000, callers: HashSet::new() }))
}

/// The fake's state (built on the first call), with the caller's thread recorded; None (and a
/// message on stderr, once) when the options are wrong: every call then fails.
fn fake() -> Option<MutexGuard<'static, Fake>> {
    let mut f = state()?;
    f.callers.insert(std::thread::current().id());
    Some(f)
}

fn state() -> Option<MutexGuard<'static, Fake>> {
    static FAKE: OnceLock<Result<Mutex<Fake>, String>> = OnceLock::new();
    match FAKE.get_or_init(|| {
        let r = build();
        if let Err(e) = &r {
            eprintln!("aefi-performax-fake: {e}");
        }
        r
    }) {
        Ok(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
        Err(_) => None,
    }
}

fn device_of(f: &Fake, handle: *mut c_void) -> Option<usize> {
    let i = (handle as usize).checked_sub(HANDLE_BASE)?;
    f.devices.get(i).filter(|d| d.open).map(|_| i)
}

/// The number of devices.
///
/// # Safety
/// `num_devices` is a valid pointer to a writable DWORD.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComGetNumDevices(num_devices: *mut u32) -> i32 {
    let Some(f) = fake() else { return FALSE };
    if num_devices.is_null() {
        return FALSE;
    }
    // SAFETY: the caller passes a writable DWORD (checked non-null).
    unsafe { *num_devices = f.devices.len() as u32 };
    TRUE
}

/// Serial string (`options` 0, `4ex00`) or product string (1) of device `index`, NUL-terminated.
///
/// # Safety
/// `buffer` points to at least 256 writable bytes (`PERFORMAX_MAX_DEVICE_STRLEN`).
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComGetProductString(index: u32, buffer: *mut c_void, options: u32) -> i32 {
    let Some(f) = fake() else { return FALSE };
    if buffer.is_null() || index as usize >= f.devices.len() {
        return FALSE;
    }
    let text = match options {
        0 => format!("4ex{index:02}"),
        1 => PRODUCT.to_string(),
        _ => return FALSE,
    };
    // SAFETY: the caller's buffer holds 256 bytes; the text is at most 8 bytes plus its NUL.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), text.len());
        *buffer.cast::<u8>().add(text.len()) = 0;
    }
    TRUE
}

/// Opens device `index` (one opener at a time).
///
/// # Safety
/// `handle` is a valid pointer to a writable HANDLE.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComOpen(index: u32, handle: *mut *mut c_void) -> i32 {
    let Some(mut f) = fake() else { return FALSE };
    let Some(dev) = f.devices.get_mut(index as usize) else { return FALSE };
    if dev.open || handle.is_null() {
        return FALSE;
    }
    dev.open = true;
    // SAFETY: the caller passes a writable HANDLE slot (checked non-null).
    unsafe { *handle = (HANDLE_BASE + index as usize) as *mut c_void };
    TRUE
}

/// Closes a device.
///
/// # Safety
/// None beyond the C signature: the handle is only compared, never dereferenced.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComClose(handle: *mut c_void) -> i32 {
    let Some(mut f) = fake() else { return FALSE };
    match device_of(&f, handle) {
        Some(i) => {
            f.devices[i].open = false;
            TRUE
        }
        None => FALSE,
    }
}

/// Sets the read and write timeouts (ms) of every later call.
///
/// # Safety
/// None: plain values.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComSetTimeouts(read_ms: u32, write_ms: u32) -> i32 {
    let Some(mut f) = fake() else { return FALSE };
    f.read_ms = read_ms;
    f.write_ms = write_ms;
    TRUE
}

/// Flushes a device (nothing is ever left unread in the fake: each reply is handed out by the
/// call that caused it).
///
/// # Safety
/// None beyond the C signature: the handle is only compared.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComFlush(handle: *mut c_void) -> i32 {
    let Some(f) = fake() else { return FALSE };
    let ok = device_of(&f, handle).is_some_and(|i| !lock_sim(&f.devices[i].sim).is_disconnected());
    if ok {
        TRUE
    } else {
        FALSE
    }
}

/// Sends the NUL-terminated command in `write_buffer` and copies the controller's 64-byte reply
/// packet into `read_buffer`.
///
/// # Safety
/// `write_buffer` holds `bytes_to_write` readable bytes; `read_buffer` has room for
/// `bytes_to_read` bytes.
#[no_mangle]
pub unsafe extern "system" fn fnPerformaxComSendRecv(
    handle: *mut c_void,
    write_buffer: *mut c_void,
    bytes_to_write: u32,
    bytes_to_read: u32,
    read_buffer: *mut c_void,
) -> i32 {
    let t_call = mono_ns();
    if write_buffer.is_null() || read_buffer.is_null() {
        return FALSE;
    }
    // SAFETY: the caller's write buffer holds `bytes_to_write` bytes.
    let packet = unsafe { std::slice::from_raw_parts(write_buffer.cast::<u8>(), bytes_to_write as usize) };
    let command = String::from_utf8_lossy(&packet[..packet.iter().position(|&b| b == 0).unwrap_or(packet.len())]).into_owned();
    let (outcome, ready_ns, read_ms) = {
        let Some(mut f) = fake() else { return FALSE };
        let Some(i) = device_of(&f, handle) else { return FALSE };
        let (usb, read_ms) = (f.usb_timing, f.read_ms);
        let dev = &mut f.devices[i];
        let sim = Arc::clone(&dev.sim);
        let t_arrived = if usb { t_call + USB_FRAME_NS } else { t_call };
        let (outcome, turnaround) = {
            let mut s = lock_sim(&sim);
            (s.handle_command(&command, t_arrived, Framing::Usb, false), s.config().turnaround_ns)
        };
        if let Some(log) = &mut dev.truth {
            log.maybe_write(&sim);
        }
        let ready = match &outcome {
            FrameOutcome::Reply { ready_ns, .. } if usb => ready_ns + turnaround + USB_FRAME_NS,
            FrameOutcome::Reply { ready_ns, .. } => *ready_ns,
            _ => t_call,
        };
        (outcome, ready, read_ms)
    };
    let deadline = t_call + i64::from(read_ms) * 1_000_000;
    match outcome {
        FrameOutcome::Reply { bytes, .. } if ready_ns <= deadline => {
            sleep_until_ns(ready_ns);
            let n = bytes.len().min(bytes_to_read as usize).min(USB_PACKET_BYTES);
            // SAFETY: the caller's read buffer has room for `bytes_to_read` bytes; n is at most that.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), read_buffer.cast::<u8>(), n) };
            TRUE
        }
        FrameOutcome::Dead => FALSE,
        // No reply (dropped), or one later than the read timeout: the read times out.
        _ => {
            sleep_until_ns(deadline);
            FALSE
        }
    }
}

/// Not a PerformaxCom function: how many distinct threads have called into this library, so a
/// test can check that the transport calls it from one thread only.
#[no_mangle]
pub extern "C" fn aefi_fake_performax_caller_threads() -> u32 {
    state().map_or(0, |f| f.callers.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse() {
        let (n, usb, truth, sim) = parse_options("devices=2&timing=none&truth_log=/tmp/t.json&home=X=0").unwrap();
        assert_eq!((n, usb, truth.as_deref()), (2, false, Some("/tmp/t.json")));
        assert_eq!(sim, vec![("home".to_string(), "X=0".to_string())]);
        assert!(parse_options("devices=0").is_err());
        assert!(parse_options("timing=fast").is_err());
        assert!(parse_options("x").is_err());
        assert_eq!(parse_options("").unwrap().0, 4);
    }
}
