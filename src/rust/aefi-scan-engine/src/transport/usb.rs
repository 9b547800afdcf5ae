//! USB link to a PMX-4EX-SA through libusb (`rusb`), the vendor bulk protocol of notes §2:
//! VID 0x1589 / PID 0xA101, interface 0, bulk OUT 0x02 / IN 0x82, 64-byte NUL-terminated
//! packets, vendor control requests (bmRequestType 0x40, bRequest 0x02) to open (wValue 2),
//! flush (1) and close (4). Unaddressed: no `@NN`, no CR.
//!
//! Always a private `rusb::Context` (the global one panics where libusb cannot initialise);
//! every libusb failure becomes [`TransportError::UsbUnavailable`] or names the device.
use std::time::Duration;

use rusb::{Context, DeviceHandle, UsbContext};

use super::{read_until_deadline, ByteLink, TransportError};
use crate::arcus::framing::USB_PACKET_BYTES;
use crate::clock::mono_ns;

/// Arcus USB vendor id.
pub const VENDOR_ID: u16 = 0x1589;
/// PMX-4EX-SA USB product id.
pub const PRODUCT_ID: u16 = 0xA101;
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

/// Serial strings (device names, e.g. `4ex00`) of the Performax USB devices present.
///
/// # Errors
/// [`TransportError::UsbUnavailable`] when libusb cannot be used here.
pub fn list_devices() -> Result<Vec<String>, TransportError> {
    let ctx = Context::new().map_err(|e| unavailable(format!("libusb cannot start: {e}")))?;
    let mut out = Vec::new();
    for dev in ctx.devices().map_err(|e| unavailable(format!("cannot list USB devices: {e}")))?.iter() {
        let Ok(desc) = dev.device_descriptor() else { continue };
        if desc.vendor_id() != VENDOR_ID || desc.product_id() != PRODUCT_ID {
            continue;
        }
        let serial = dev
            .open()
            .ok()
            .and_then(|h| h.read_serial_number_string_ascii(&desc).ok())
            .unwrap_or_else(|| format!("bus{}-dev{}", dev.bus_number(), dev.address()));
        out.push(serial);
    }
    Ok(out)
}

impl UsbLink {
    /// Opens the Performax whose USB serial string is `serial` (case-insensitive; empty = the
    /// first one found), claims interface 0 and sends the vendor open + flush requests.
    ///
    /// # Errors
    /// [`TransportError::UsbUnavailable`] (no libusb, no permission), or
    /// [`TransportError::PortNotFound`] listing the Performax devices present.
    pub fn open(serial: &str, timeout: Duration) -> Result<UsbLink, TransportError> {
        let ctx = Context::new().map_err(|e| unavailable(format!("libusb cannot start: {e}")))?;
        let devices = ctx.devices().map_err(|e| unavailable(format!("cannot list USB devices: {e}")))?;
        let mut seen = Vec::new();
        for dev in devices.iter() {
            let Ok(desc) = dev.device_descriptor() else { continue };
            if desc.vendor_id() != VENDOR_ID || desc.product_id() != PRODUCT_ID {
                continue;
            }
            let handle = dev.open().map_err(|e| unavailable(format!("cannot open Performax USB device: {e}")))?;
            let name = handle.read_serial_number_string_ascii(&desc).unwrap_or_default();
            if !serial.is_empty() && !name.eq_ignore_ascii_case(serial) {
                seen.push(name);
                continue;
            }
            let port = format!("usb://{}", name.to_ascii_lowercase());
            let _ = handle.set_auto_detach_kernel_driver(true);
            handle.claim_interface(0).map_err(|e| TransportError::PortBusy { port: port.clone(), detail: e.to_string() })?;
            for v in [OPEN, FLUSH] {
                handle
                    .write_control(REQ_TYPE, REQ, v, 0, &[], timeout)
                    .map_err(|e| unavailable(format!("{port}: vendor request {v:#x} failed: {e}")))?;
            }
            return Ok(UsbLink { name: port, handle, rx: Vec::new() });
        }
        Err(TransportError::PortNotFound {
            port: format!("usb://{serial}"),
            available: seen.into_iter().map(|s| format!("usb://{}", s.to_ascii_lowercase())).collect(),
        })
    }

    fn usb_err(&self, e: rusb::Error) -> TransportError {
        usb_error(&self.name, e)
    }
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
        // Drain a stale reply first (errors ignored), so replies cannot drift out of step (M 5.1.3).
        let mut junk = [0u8; USB_PACKET_BYTES];
        let _ = self.handle.read_bulk(EP_IN, &mut junk, Duration::from_millis(1));
        let t = mono_ns();
        self.handle.write_bulk(EP_OUT, frame, Duration::from_millis(500)).map_err(|e| self.usb_err(e))?;
        Ok(t)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let mut buf = [0u8; USB_PACKET_BYTES];
        let (handle, name) = (&self.handle, &self.name);
        read_until_deadline(name, &mut self.rx, terminator, deadline_ns, |rx, timeout| {
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
        })
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.handle.write_control(REQ_TYPE, REQ, FLUSH, 0, &[], Duration::from_millis(200)).map(|_| ()).map_err(|e| self.usb_err(e))
    }
}

impl Drop for UsbLink {
    fn drop(&mut self) {
        let _ = self.handle.write_control(REQ_TYPE, REQ, CLOSE, 0, &[], Duration::from_millis(200));
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
    }
}
