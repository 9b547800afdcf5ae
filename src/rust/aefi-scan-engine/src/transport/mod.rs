//! Byte links to an instrument: one trait ([`ByteLink`]) with deadlines, and its implementations
//! (serial opened exclusively, TCP, USB through libusb, USB through the vendor's PerformaxCom.dll;
//! the in-process simulator link lives in the simulator crate). [`url`] parses the link URLs of docs/architecture.md.
//!
//! Invariants: every read has a deadline in `mono_ns` and a missed deadline is an error
//! ([`TransportError::Timeout`]), never a hang; errors name the port.
use std::fmt;

use crate::clock::mono_ns;

pub mod opener;
pub mod performax;
pub mod serial;
pub mod tcp;
pub mod url;
pub mod usb;

pub use opener::{HardwareOpener, LinkOpener};
pub use url::{LinkUrl, PerformaxDevice, SimTiming};

/// A failure of a link.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The port does not exist; `available` lists the ports that do.
    #[error("port {port} not found (available: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    PortNotFound {
        /// The requested port.
        port: String,
        /// Ports that exist on this machine.
        available: Vec<String>,
    },
    /// Another owner holds the port (exclusive open refused).
    #[error("port {port} is busy: {detail}")]
    PortBusy {
        /// The port.
        port: String,
        /// What the OS said.
        detail: String,
    },
    /// No complete reply before the deadline.
    #[error("timeout on {port}: no reply within {waited_ms:.1} ms (got {partial:?} so far)")]
    Timeout {
        /// The port.
        port: String,
        /// How long it waited.
        waited_ms: f64,
        /// Bytes received before the deadline, as text.
        partial: String,
    },
    /// The link went away (peer closed, device unplugged, simulator disconnected).
    #[error("link {port} disconnected: {detail}")]
    Disconnected {
        /// The port.
        port: String,
        /// What happened.
        detail: String,
    },
    /// USB cannot be used here: libusb cannot start or reach the device, or PerformaxCom.dll
    /// cannot be loaded (missing, 32-bit, failing).
    #[error("USB unavailable: {detail}")]
    UsbUnavailable {
        /// What libusb said.
        detail: String,
    },
    /// A malformed link URL.
    #[error("bad link URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Any other I/O error.
    #[error("I/O error on {port}: {source}")]
    Io {
        /// The port.
        port: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    /// An I/O error on `port`.
    pub fn io(port: &str, source: std::io::Error) -> Self {
        TransportError::Io { port: port.to_string(), source }
    }
}

/// A bidirectional byte link with deadlines.
///
/// Implementations keep bytes received after a terminator for the next read.
pub trait ByteLink: Send + fmt::Debug {
    /// The port name used in messages (`/dev/ttyUSB0`, `127.0.0.1:4000`, `sim://bench`).
    fn name(&self) -> &str;

    /// The UART baud rate behind this link, when known (wire-time accounting).
    fn baud(&self) -> Option<u32>;

    /// Writes one whole frame; returns the `mono_ns` stamp taken just before the first byte left.
    ///
    /// # Errors
    /// I/O errors, disconnection.
    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError>;

    /// Reads up to and including `terminator`, waiting at most until `deadline_ns` (`mono_ns`).
    /// Returns the bytes and the `mono_ns` stamp at which the terminator was received.
    ///
    /// # Errors
    /// [`TransportError::Timeout`] when the deadline passes; I/O errors; disconnection.
    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError>;

    /// Drops any received but unread bytes (after a timeout, before a new exchange).
    ///
    /// # Errors
    /// I/O errors.
    fn discard_input(&mut self) -> Result<(), TransportError>;

    /// The device's reply turnaround (ns) when the link knows it (a simulator does; a real port
    /// does not and answers 0): the position model subtracts it from each round trip.
    fn device_turnaround_ns(&self) -> f64 {
        0.0
    }

    /// Now, in the link's time base (the one of its stamps): the monotonic clock, unless the link
    /// runs on another [`Clock`](crate::clock::Clock) (a simulated link on a
    /// [`ManualClock`](crate::clock::ManualClock)). A driver's own waits use it.
    fn now_ns(&self) -> i64 {
        crate::clock::mono_ns()
    }

    /// Waits until `t_ns` in the link's time base.
    fn sleep_until_ns(&self, t_ns: i64) {
        crate::clock::Clock::sleep_until_ns(&crate::clock::MonotonicClock, t_ns);
    }
}

impl ByteLink for Box<dyn ByteLink> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn baud(&self) -> Option<u32> {
        (**self).baud()
    }
    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        (**self).write_frame(frame)
    }
    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        (**self).read_until(terminator, deadline_ns)
    }
    fn discard_input(&mut self) -> Result<(), TransportError> {
        (**self).discard_input()
    }
    fn device_turnaround_ns(&self) -> f64 {
        (**self).device_turnaround_ns()
    }
    fn now_ns(&self) -> i64 {
        (**self).now_ns()
    }
    fn sleep_until_ns(&self, t_ns: i64) {
        (**self).sleep_until_ns(t_ns)
    }
}

/// Splits `buf` after the first `terminator`, if any: returns the frame and keeps the rest.
pub fn take_through(buf: &mut Vec<u8>, terminator: u8) -> Option<Vec<u8>> {
    let pos = buf.iter().position(|&b| b == terminator)?;
    let rest = buf.split_off(pos + 1);
    Some(std::mem::replace(buf, rest))
}

/// Remaining time until `deadline_ns`, at least 1 ms (OS read timeouts of 0 mean "forever").
pub(crate) fn remaining(deadline_ns: i64, now_ns: i64) -> std::time::Duration {
    std::time::Duration::from_nanos((deadline_ns - now_ns).max(1_000_000) as u64)
}

/// The read loop every link shares: returns the frame through the first `terminator` (bytes
/// after it stay in `rx` for the next read) and the `mono_ns` time it was complete, or
/// [`TransportError::Timeout`] once `deadline_ns` has passed. `read_some(rx, timeout)` waits at
/// most `timeout` and appends what arrived to `rx` (nothing on a timeout); its errors end the read.
pub(crate) fn read_until_deadline(
    port: &str,
    rx: &mut Vec<u8>,
    terminator: u8,
    deadline_ns: i64,
    mut read_some: impl FnMut(&mut Vec<u8>, std::time::Duration) -> Result<(), TransportError>,
) -> Result<(Vec<u8>, i64), TransportError> {
    let start = mono_ns();
    loop {
        if let Some(frame) = take_through(rx, terminator) {
            return Ok((frame, mono_ns()));
        }
        let now = mono_ns();
        if now >= deadline_ns {
            return Err(TransportError::Timeout {
                port: port.to_owned(),
                waited_ms: (now - start) as f64 / 1e6,
                partial: String::from_utf8_lossy(rx).into_owned(),
            });
        }
        read_some(rx, remaining(deadline_ns, now))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_through_keeps_the_rest() {
        let mut buf = b"12\r34\r5".to_vec();
        assert_eq!(take_through(&mut buf, b'\r').unwrap(), b"12\r");
        assert_eq!(take_through(&mut buf, b'\r').unwrap(), b"34\r");
        assert_eq!(take_through(&mut buf, b'\r'), None);
        assert_eq!(buf, b"5");
    }

    #[test]
    fn messages_name_the_port() {
        let e = TransportError::PortNotFound { port: "/dev/ttyX".into(), available: vec!["/dev/ttyS0".into()] };
        assert_eq!(e.to_string(), "port /dev/ttyX not found (available: /dev/ttyS0)");
        let e = TransportError::PortNotFound { port: "/dev/ttyX".into(), available: vec![] };
        assert!(e.to_string().ends_with("(available: none)"));
    }
}
