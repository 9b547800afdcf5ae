//! USB link to a PMX-4EX-SA through libusb (`rusb`), the vendor bulk protocol of notes §2:
//! VID 0x1589 / PID 0xA101, interface 0, bulk OUT 0x02 / IN 0x82, 64-byte NUL-terminated
//! packets, vendor control requests (bmRequestType 0x40, bRequest 0x02) to open (wValue 2),
//! flush (1) and close (4). Unaddressed: no `@NN`, no CR.
//!
//! - **Drain before each write** (as Arcus's own libusb driver does, so that replies cannot drift
//!   out of step, M 5.1.3): the IN endpoint is read until it is empty. When a reply is outstanding
//!   (the last read timed out, or the input was discarded) the first drain read waits the full read
//!   timeout, so a late reply is swallowed rather than taken for the next command's; otherwise
//!   each drain read polls for [`DRAIN_POLL`], so an in-step link pays no timeout per command (the
//!   vendor driver waits its read timeout there on every command).
//! - **Timeouts**: reads wait the controller's timeout; writes and control requests
//!   [`WRITE_TIMEOUT`] (the 1000 ms of Arcus's samples and ArcusPerformax.jl; a transaction takes
//!   single-digit ms, M 5.1.2).
//! - **Open** is retried ([`OPEN_ATTEMPTS`], [`OPEN_RETRY_DELAY`] apart) on transient errors (a
//!   device just plugged in, a claim racing another program's release). A Performax that cannot be
//!   opened is skipped with its reason, and what to do about it (a udev rule on Linux; on Windows
//!   the driver: WinUSB through Zadig for `usb://`, or the vendor driver for `performax://`).
//!
//! Always a private `rusb::Context` (the global one panics where libusb cannot initialise);
//! every libusb failure becomes [`TransportError::UsbUnavailable`] or names the device.
use std::time::Duration;

use rusb::{Context, Device, DeviceHandle, UsbContext};

use super::{read_until_deadline, ByteLink, TransportError};
use crate::arcus::framing::USB_PACKET_BYTES;
use crate::clock::mono_ns;

/// Arcus USB vendor id.
pub const VENDOR_ID: u16 = 0x1589;
/// PMX-4EX-SA USB product id.
pub const PRODUCT_ID: u16 = 0xA101;
/// Timeout of bulk writes and of the vendor control requests.
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Wait of each drain read when no reply is outstanding.
pub const DRAIN_POLL: Duration = Duration::from_millis(1);
/// Most packets one drain reads (a device that never stops sending is an error, not a hang).
pub const DRAIN_MAX_PACKETS: usize = 64;
/// Attempts to open and claim a device.
pub const OPEN_ATTEMPTS: u32 = 3;
/// Pause between two open attempts.
pub const OPEN_RETRY_DELAY: Duration = Duration::from_millis(200);
/// The drain buffer: Arcus's driver drains into 4096 bytes, several packets at once.
const DRAIN_BUFFER_BYTES: usize = 4096;
const EP_OUT: u8 = 0x02;
const EP_IN: u8 = 0x82;
const REQ_TYPE: u8 = 0x40;
const REQ: u8 = 0x02;
const OPEN: u16 = 0x02;
const CLOSE: u16 = 0x04;
const FLUSH: u16 = 0x01;

/// An open USB Performax device.
pub struct UsbLink {
    name: String,
    handle: DeviceHandle<Context>,
    read_timeout: Duration,
    /// A reply may still arrive for an earlier command (a read timed out, or input was discarded).
    reply_outstanding: bool,
    rx: Vec<u8>,
}

impl std::fmt::Debug for UsbLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbLink").field("name", &self.name).finish()
    }
}

fn unavailable(detail: impl std::fmt::Display) -> TransportError {
    TransportError::UsbUnavailable { detail: detail.to_string() }
}

/// A Performax on the bus, openable or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDeviceInfo {
    /// USB serial string (`4ex00`), empty when the device could not be opened to read it.
    pub serial: String,
    /// Bus number.
    pub bus: u8,
    /// Address on the bus.
    pub address: u8,
    /// Why it cannot be used, and what to do; None when it opened.
    pub problem: Option<String>,
}

impl UsbDeviceInfo {
    /// `usb://SERIAL`, or the bus position when the serial is unknown.
    pub fn url(&self) -> String {
        if self.serial.is_empty() {
            format!("usb:// (bus {} device {})", self.bus, self.address)
        } else {
            format!("usb://{}", self.serial.to_ascii_lowercase())
        }
    }
}

/// Why a device cannot be opened, and what to do about it, for this OS.
pub fn open_problem(e: rusb::Error) -> String {
    let what = match e {
        rusb::Error::Access if cfg!(target_os = "linux") => {
            "no permission to open it: install the udev rule (`aefi-doctor --udev-rule install`, as root) and plug the controller again"
        }
        rusb::Error::Access => "no permission to open it (another driver or program holds it)",
        rusb::Error::NotSupported | rusb::Error::NotFound if cfg!(windows) => {
            "Windows has no libusb-usable driver on it. With the vendor's driver (Silicon Labs USBXpress, installed with \
             Arcus's software) use performax://; for usb:// replace it by WinUSB with Zadig (PerformaxCom.dll then no longer sees it)"
        }
        rusb::Error::NotSupported => "libusb cannot use this device on this OS",
        rusb::Error::Busy => "claimed by another program (close it, or unplug and plug the controller again)",
        rusb::Error::NoDevice => "unplugged while being opened",
        _ => "libusb could not open it",
    };
    format!("{what} ({e})")
}

/// Whether retrying an open failure can help.
fn transient(e: rusb::Error) -> bool {
    matches!(
        e,
        rusb::Error::Busy | rusb::Error::Io | rusb::Error::Pipe | rusb::Error::Timeout | rusb::Error::Other | rusb::Error::Interrupted
    )
}

/// Runs `f` up to [`OPEN_ATTEMPTS`] times while it fails transiently.
fn with_retry<T>(mut f: impl FnMut() -> rusb::Result<T>) -> rusb::Result<T> {
    let mut attempt = 1;
    loop {
        match f() {
            Err(e) if transient(e) && attempt < OPEN_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(OPEN_RETRY_DELAY);
            }
            r => return r,
        }
    }
}

fn performax_devices(ctx: &Context) -> Result<Vec<(Device<Context>, rusb::DeviceDescriptor)>, TransportError> {
    let list = ctx.devices().map_err(|e| unavailable(format!("cannot list USB devices: {e}")))?;
    Ok(list
        .iter()
        .filter_map(|dev| {
            let desc = dev.device_descriptor().ok()?;
            (desc.vendor_id() == VENDOR_ID && desc.product_id() == PRODUCT_ID).then_some((dev, desc))
        })
        .collect())
}

fn context() -> Result<Context, TransportError> {
    Context::new().map_err(|e| unavailable(format!("libusb cannot start: {e}")))
}

/// The Performax USB devices present, with the reason for each one that cannot be opened.
///
/// # Errors
/// [`TransportError::UsbUnavailable`] when libusb cannot be used here.
pub fn list_devices() -> Result<Vec<UsbDeviceInfo>, TransportError> {
    let ctx = context()?;
    Ok(performax_devices(&ctx)?
        .into_iter()
        .map(|(dev, desc)| {
            let (serial, problem) = match with_retry(|| dev.open()) {
                Ok(h) => (h.read_serial_number_string_ascii(&desc).unwrap_or_default(), None),
                Err(e) => (String::new(), Some(open_problem(e))),
            };
            UsbDeviceInfo { serial, bus: dev.bus_number(), address: dev.address(), problem }
        })
        .collect())
}

impl UsbLink {
    /// Opens the Performax whose USB serial string is `serial` (case-insensitive; empty = the
    /// first one that opens), claims interface 0 and sends the vendor open + flush requests.
    /// Devices that cannot be opened are skipped; if none fits, the error says why each was.
    ///
    /// # Errors
    /// [`TransportError::UsbUnavailable`] (no libusb; the wanted device, or every device, could
    /// not be opened: with the reasons), [`TransportError::PortNotFound`] listing the Performax
    /// devices present, [`TransportError::PortBusy`] when another program holds the interface.
    pub fn open(serial: &str, timeout: Duration) -> Result<UsbLink, TransportError> {
        let ctx = context()?;
        let mut seen = Vec::new();
        let mut skipped = Vec::new();
        for (dev, desc) in performax_devices(&ctx)? {
            let handle = match with_retry(|| dev.open()) {
                Ok(h) => h,
                Err(e) => {
                    skipped.push(format!("bus {} device {}: {}", dev.bus_number(), dev.address(), open_problem(e)));
                    continue;
                }
            };
            let name = handle.read_serial_number_string_ascii(&desc).unwrap_or_default();
            if !serial.is_empty() && !name.eq_ignore_ascii_case(serial) {
                seen.push(name);
                continue;
            }
            let port = format!("usb://{}", name.to_ascii_lowercase());
            let _ = handle.set_auto_detach_kernel_driver(true);
            with_retry(|| handle.claim_interface(0))
                .map_err(|e| TransportError::PortBusy { port: port.clone(), detail: open_problem(e) })?;
            for v in [OPEN, FLUSH] {
                handle
                    .write_control(REQ_TYPE, REQ, v, 0, &[], WRITE_TIMEOUT)
                    .map_err(|e| unavailable(format!("{port}: vendor request {v:#x} failed: {e}")))?;
            }
            return Ok(UsbLink {
                name: port,
                handle,
                read_timeout: timeout.max(Duration::from_millis(1)),
                reply_outstanding: false,
                rx: Vec::new(),
            });
        }
        if !skipped.is_empty() && (serial.is_empty() || seen.is_empty()) {
            return Err(unavailable(format!(
                "usb://{serial}: {} Performax device(s) could not be opened: {}",
                skipped.len(),
                skipped.join("; ")
            )));
        }
        Err(TransportError::PortNotFound {
            port: format!("usb://{serial}"),
            available: seen.into_iter().map(|s| format!("usb://{}", s.to_ascii_lowercase())).collect(),
        })
    }

    fn usb_err(&self, e: rusb::Error) -> TransportError {
        usb_error(&self.name, e)
    }

    /// Reads the IN endpoint until it is empty (see the module documentation).
    fn drain(&mut self) -> Result<(), TransportError> {
        let mut junk = vec![0u8; DRAIN_BUFFER_BYTES];
        let handle = &self.handle;
        let r = drain_with(|wait| handle.read_bulk(EP_IN, &mut junk, wait), self.reply_outstanding, self.read_timeout);
        self.reply_outstanding = false;
        match r {
            Ok(_) => Ok(()),
            Err(Some(e)) => Err(self.usb_err(e)),
            Err(None) => Err(TransportError::io(
                &self.name,
                std::io::Error::other(format!("the device kept sending: {DRAIN_MAX_PACKETS} packets drained")),
            )),
        }
    }
}

/// The drain loop over `read(wait)`: the first read waits `read_timeout` when a reply is
/// outstanding, else [`DRAIN_POLL`]; later reads [`DRAIN_POLL`]; it ends at the first read that
/// finds nothing. Returns the packets drained; `Err(Some(NoDevice))` when the device is gone,
/// `Err(None)` when it never stops sending.
fn drain_with(
    mut read: impl FnMut(Duration) -> rusb::Result<usize>,
    outstanding: bool,
    read_timeout: Duration,
) -> Result<usize, Option<rusb::Error>> {
    let mut wait = if outstanding { read_timeout } else { DRAIN_POLL };
    for drained in 0..DRAIN_MAX_PACKETS {
        match read(wait) {
            Ok(_) => wait = DRAIN_POLL,
            Err(rusb::Error::NoDevice) => return Err(Some(rusb::Error::NoDevice)),
            // A timeout is an empty endpoint; other errors (a stall on an idle endpoint) are
            // ignored, as Arcus's driver ignores them.
            Err(_) => return Ok(drained),
        }
    }
    Err(None)
}

/// The transport error of a libusb error on `port`.
fn usb_error(port: &str, e: rusb::Error) -> TransportError {
    match e {
        rusb::Error::NoDevice => TransportError::Disconnected { port: port.to_owned(), detail: e.to_string() },
        rusb::Error::Busy => TransportError::PortBusy { port: port.to_owned(), detail: e.to_string() },
        _ => TransportError::io(port, std::io::Error::other(e.to_string())),
    }
}

impl ByteLink for UsbLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        None
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        self.drain()?;
        self.rx.clear();
        let t = mono_ns();
        self.handle.write_bulk(EP_OUT, frame, WRITE_TIMEOUT).map_err(|e| self.usb_err(e))?;
        Ok(t)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let mut buf = [0u8; USB_PACKET_BYTES];
        let (handle, name) = (&self.handle, &self.name);
        let r = read_until_deadline(name, &mut self.rx, terminator, deadline_ns, |rx, timeout| {
            match handle.read_bulk(EP_IN, &mut buf, timeout) {
                Ok(n) => {
                    // A packet carries one NUL-terminated reply; the padding after it is dropped.
                    let end = buf[..n].iter().position(|&b| b == 0).map_or(n, |p| p + 1);
                    rx.extend_from_slice(&buf[..end]);
                    Ok(())
                }
                Err(rusb::Error::Timeout) => Ok(()),
                Err(e) => Err(usb_error(name, e)),
            }
        });
        if matches!(r, Err(TransportError::Timeout { .. })) {
            self.reply_outstanding = true;
        }
        r
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.reply_outstanding = true;
        self.handle.write_control(REQ_TYPE, REQ, FLUSH, 0, &[], WRITE_TIMEOUT).map(|_| ()).map_err(|e| self.usb_err(e))
    }
}

impl Drop for UsbLink {
    fn drop(&mut self) {
        let _ = self.handle.write_control(REQ_TYPE, REQ, CLOSE, 0, &[], WRITE_TIMEOUT);
        let _ = self.handle.release_interface(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_device_is_a_typed_error_not_a_panic() {
        // Here there is either no libusb access (UsbUnavailable) or no Performax (PortNotFound).
        let e = UsbLink::open("4ex77", Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, TransportError::UsbUnavailable { .. } | TransportError::PortNotFound { .. }), "{e}");
        assert!(matches!(list_devices(), Ok(v) if v.is_empty()) || list_devices().is_err());
    }

    #[test]
    fn open_problems_say_what_to_do_on_this_os() {
        let access = open_problem(rusb::Error::Access);
        let driver = open_problem(rusb::Error::NotSupported);
        if cfg!(target_os = "linux") {
            assert!(access.contains("udev rule"), "{access}");
        }
        if cfg!(windows) {
            assert!(driver.contains("Zadig") && driver.contains("WinUSB") && driver.contains("performax://"), "{driver}");
            assert!(open_problem(rusb::Error::NotFound).contains("Zadig"));
        }
        assert!(open_problem(rusb::Error::Busy).contains("another program"));
    }

    #[test]
    fn the_drain_waits_the_read_timeout_only_for_an_outstanding_reply() {
        let timeout = Duration::from_millis(700);
        // in step: every wait is a poll; two stale packets, then empty
        let mut waits = Vec::new();
        let mut queued = 2;
        let r = drain_with(
            |w| {
                waits.push(w);
                if queued > 0 {
                    queued -= 1;
                    Ok(64)
                } else {
                    Err(rusb::Error::Timeout)
                }
            },
            false,
            timeout,
        );
        assert_eq!(r, Ok(2));
        assert_eq!(waits, [DRAIN_POLL; 3]);
        // a reply outstanding: the first read waits for it, the next ones poll
        let mut waits = Vec::new();
        let mut late = true;
        let r = drain_with(
            |w| {
                waits.push(w);
                if std::mem::take(&mut late) {
                    Ok(64)
                } else {
                    Err(rusb::Error::Timeout)
                }
            },
            true,
            timeout,
        );
        assert_eq!((r, waits), (Ok(1), vec![timeout, DRAIN_POLL]));
        // unplugged, and a device that never stops
        assert_eq!(drain_with(|_| Err(rusb::Error::NoDevice), false, timeout), Err(Some(rusb::Error::NoDevice)));
        assert_eq!(drain_with(|_| Ok(64), false, timeout), Err(None));
        assert_eq!(drain_with(|_| Err(rusb::Error::Pipe), true, timeout), Ok(0));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let mut calls = 0;
        let r: rusb::Result<()> = with_retry(|| {
            calls += 1;
            Err(rusb::Error::Access)
        });
        assert_eq!((r, calls), (Err(rusb::Error::Access), 1));
        let mut calls = 0;
        let r = with_retry(|| {
            calls += 1;
            if calls < 3 {
                Err(rusb::Error::Busy)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: rusb::Result<()> = with_retry(|| {
            calls += 1;
            Err(rusb::Error::Io)
        });
        assert_eq!((r, calls), (Err(rusb::Error::Io), OPEN_ATTEMPTS));
    }
}
