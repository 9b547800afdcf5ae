//! From a link URL to an open link. The core opens real ports (`serial://`, `tcp://`,
//! `usb://`, `performax://`); an in-process simulated bench (`sim://`) is opened by the simulator crate's
//! opener, which the Python binding assembles. So the core carries no simulator code and a
//! hardware-only build refuses `sim://` with a clear message.
use super::serial::SerialLink;
use super::tcp::TcpLink;
use super::{ByteLink, LinkUrl, TransportError};
use crate::arcus::framing::Framing;
use crate::board::timing::BOARD_BAUD;
use std::time::Duration;

/// Opens the links that URLs name, for the Arcus and for the acquisition board.
pub trait LinkOpener: Send + Sync {
    /// The Arcus link at `url` and the framing its host side must use.
    ///
    /// # Errors
    /// Bad URL, missing or busy port, USB unavailable.
    fn open_arcus(&self, url: &str, timeout: Duration) -> Result<(Box<dyn ByteLink>, Framing), TransportError>;

    /// The acquisition board's link at `url` (1.5 Mbaud serial unless the URL sets `baud=`).
    ///
    /// # Errors
    /// Bad URL, missing or busy port.
    fn open_board(&self, url: &str, timeout: Duration) -> Result<Box<dyn ByteLink>, TransportError>;
}

/// Real ports only: `serial://`, `tcp://`, `usb://`, `performax://`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HardwareOpener;

fn no_simulator(url: &str) -> TransportError {
    TransportError::BadUrl {
        url: url.to_string(),
        reason: "sim:// links need the simulators (the aefi-sim crate), which this build does not include".into(),
    }
}

impl LinkOpener for HardwareOpener {
    fn open_arcus(&self, url: &str, timeout: Duration) -> Result<(Box<dyn ByteLink>, Framing), TransportError> {
        Ok(match LinkUrl::parse(url)? {
            LinkUrl::Sim { .. } => return Err(no_simulator(url)),
            LinkUrl::Serial { path, baud, device } => (Box::new(SerialLink::open(&path, baud)?), Framing::Rs485 { device }),
            LinkUrl::Tcp { addr, device, baud } => {
                (Box::new(TcpLink::connect(&addr, baud, timeout.max(Duration::from_millis(100)))?), Framing::Rs485 { device })
            }
            LinkUrl::Usb { serial } => (Box::new(super::usb::UsbLink::open(&serial, timeout)?), Framing::Usb),
            LinkUrl::Performax { device, dll } => {
                (Box::new(super::performax::PerformaxLink::open(&device, dll.as_deref(), timeout)?), Framing::Usb)
            }
        })
    }

    fn open_board(&self, url: &str, timeout: Duration) -> Result<Box<dyn ByteLink>, TransportError> {
        Ok(match LinkUrl::parse(url)? {
            LinkUrl::Sim { .. } => return Err(no_simulator(url)),
            LinkUrl::Serial { path, baud, .. } => {
                // LinkUrl's default baud is the Arcus's; the board runs at 1.5 Mbaud
                let baud = if url.contains("baud=") { baud } else { BOARD_BAUD };
                Box::new(SerialLink::open(&path, baud)?)
            }
            LinkUrl::Tcp { addr, baud, .. } => {
                Box::new(TcpLink::connect(&addr, baud, timeout.clamp(Duration::from_millis(100), Duration::from_secs(10)))?)
            }
            LinkUrl::Usb { .. } | LinkUrl::Performax { .. } => {
                return Err(TransportError::BadUrl {
                    url: url.to_string(),
                    reason: "the board is a serial device: use serial://, tcp:// or sim://".into(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hardware_build_refuses_sim_urls_by_name() {
        let e = HardwareOpener.open_arcus("sim://bench", Duration::from_millis(10)).unwrap_err();
        assert!(e.to_string().contains("aefi-sim"), "{e}");
        let e = HardwareOpener.open_board("sim://bench", Duration::from_millis(10)).unwrap_err();
        assert!(e.to_string().contains("aefi-sim"), "{e}");
    }

    #[test]
    fn the_board_is_never_opened_over_usb() {
        for url in ["usb://4ex00", "performax://0"] {
            let e = HardwareOpener.open_board(url, Duration::from_millis(10)).unwrap_err();
            assert!(e.to_string().contains("serial device"), "{e}");
        }
    }
}
