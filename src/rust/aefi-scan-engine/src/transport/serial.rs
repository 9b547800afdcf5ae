//! Serial link (RS-485 adapters, USB-serial, PTYs, Windows COM ports) through the `serialport`
//! crate, opened **exclusively**: on Unix with TIOCEXCL + flock, on Windows a COM port is
//! exclusive by nature (a second `CreateFile` fails with ERROR_ACCESS_DENIED). A second opener, in
//! this process or another, gets [`TransportError::PortBusy`]; a missing port gives
//! [`TransportError::PortNotFound`] listing the ports that exist.
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serialport::SerialPort;

use super::{read_until_deadline, ByteLink, TransportError};
use crate::clock::mono_ns;

/// An open serial port.
pub struct SerialLink {
    name: String,
    baud: u32,
    port: Box<dyn SerialPort>,
    rx: Vec<u8>,
}

impl std::fmt::Debug for SerialLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLink").field("name", &self.name).field("baud", &self.baud).finish()
    }
}

/// Names of the serial ports on this machine (`serialport::available_ports`).
pub fn available_ports() -> Vec<String> {
    serialport::available_ports().map(|v| v.into_iter().map(|p| p.port_name).collect()).unwrap_or_default()
}

impl SerialLink {
    /// Opens `path` at `baud`, 8N1, no flow control, exclusively.
    ///
    /// # Errors
    /// [`TransportError::PortNotFound`], [`TransportError::PortBusy`], or I/O errors.
    pub fn open(path: &str, baud: u32) -> Result<SerialLink, TransportError> {
        // A device node that is not there is "not found" before anything is tried. Windows COM
        // names (`COM10`) are no paths: there the open itself tells.
        #[cfg(unix)]
        if !Path::new(path).exists() {
            return Err(TransportError::PortNotFound { port: path.to_string(), available: available_ports() });
        }
        let builder = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100));
        #[cfg(unix)]
        let builder = builder.exclusive(true);
        let port = builder.open().map_err(|e| map_open_error(path, e))?;
        Ok(SerialLink { name: path.to_string(), baud, port, rx: Vec::new() })
    }
}

/// Why an open failed, from what the OS said and whether the port is one the OS lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenFailure {
    Busy,
    NotFound,
    Other,
}

/// Windows answers both a missing and a held COM port with "no device" (ERROR_FILE_NOT_FOUND,
/// ERROR_ACCESS_DENIED; the text is in the user's language): a port the OS lists exists, so
/// "no device" on it means another program holds it.
fn classify_open_failure(text: &str, kind: serialport::ErrorKind, listed: bool) -> OpenFailure {
    let busy_text = text.contains("exclusive lock") || text.contains("shared lock") || text.contains("Device or resource busy");
    if busy_text || matches!(kind, serialport::ErrorKind::Io(std::io::ErrorKind::ResourceBusy)) {
        return OpenFailure::Busy;
    }
    match kind {
        serialport::ErrorKind::NoDevice if listed && cfg!(windows) => OpenFailure::Busy,
        serialport::ErrorKind::NoDevice if !listed => OpenFailure::NotFound,
        _ => OpenFailure::Other,
    }
}

fn map_open_error(path: &str, e: serialport::Error) -> TransportError {
    let text = e.to_string();
    let available = available_ports();
    let listed = available.iter().any(|p| p.eq_ignore_ascii_case(path)) || Path::new(path).exists();
    match classify_open_failure(&text, e.kind(), listed) {
        OpenFailure::Busy => TransportError::PortBusy {
            port: path.to_string(),
            detail: format!("{text} (another program or controller object has it open)"),
        },
        OpenFailure::NotFound => TransportError::PortNotFound { port: path.to_string(), available },
        OpenFailure::Other => match e.kind() {
            serialport::ErrorKind::Io(kind) => TransportError::io(path, std::io::Error::new(kind, text)),
            _ => TransportError::io(path, std::io::Error::other(text)),
        },
    }
}

impl ByteLink for SerialLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        Some(self.baud)
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        let t = mono_ns();
        self.port.write_all(frame).map_err(|e| TransportError::io(&self.name, e))?;
        self.port.flush().map_err(|e| TransportError::io(&self.name, e))?;
        Ok(t)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let mut chunk = [0u8; 256];
        let (port, name) = (&mut self.port, &self.name);
        read_until_deadline(name, &mut self.rx, terminator, deadline_ns, |rx, timeout| {
            port.set_timeout(timeout).map_err(|e| TransportError::io(name, e.into()))?;
            match port.read(&mut chunk) {
                Ok(0) => Err(TransportError::Disconnected { port: name.clone(), detail: "end of file".into() }),
                Ok(n) => {
                    rx.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
                Err(e) => Err(TransportError::io(name, e)),
            }
        })
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.port.clear(serialport::ClearBuffer::Input).map_err(|e| TransportError::io(&self.name, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_failures_are_classified_by_what_the_os_lists() {
        use serialport::ErrorKind::{Io, NoDevice};
        assert_eq!(
            classify_open_failure("Unable to acquire exclusive lock on serial port", Io(std::io::ErrorKind::Other), true),
            OpenFailure::Busy
        );
        assert_eq!(classify_open_failure("x", Io(std::io::ErrorKind::ResourceBusy), true), OpenFailure::Busy);
        assert_eq!(classify_open_failure("Le fichier spécifié est introuvable.", NoDevice, false), OpenFailure::NotFound);
        // Access denied on a listed COM port is a port held elsewhere (Windows); elsewhere a
        // listed port that says "no device" is an I/O failure to report as is.
        let listed = classify_open_failure("Accès refusé.", NoDevice, true);
        assert_eq!(listed, if cfg!(windows) { OpenFailure::Busy } else { OpenFailure::Other });
    }

    #[test]
    fn missing_port_lists_available() {
        let e = SerialLink::open("/dev/does-not-exist-aefi", 9600).unwrap_err();
        assert!(matches!(e, TransportError::PortNotFound { ref port, .. } if port == "/dev/does-not-exist-aefi"), "{e}");
    }
}
