//! Serial link (RS-485 adapters, USB-serial, PTYs) through the `serialport` crate, opened
//! **exclusively** (TIOCEXCL + flock): a second opener, in this process or another, gets
//! [`TransportError::PortBusy`]; a missing port gives [`TransportError::PortNotFound`] listing
//! the ports that exist.
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
        if !Path::new(path).exists() {
            return Err(TransportError::PortNotFound { port: path.to_string(), available: available_ports() });
        }
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .exclusive(true)
            .open()
            .map_err(|e| map_open_error(path, e))?;
        Ok(SerialLink { name: path.to_string(), baud, port, rx: Vec::new() })
    }
}

fn map_open_error(path: &str, e: serialport::Error) -> TransportError {
    let text = e.to_string();
    let busy = text.contains("exclusive lock")
        || text.contains("shared lock")
        || matches!(e.kind(), serialport::ErrorKind::Io(std::io::ErrorKind::ResourceBusy))
        || text.contains("Device or resource busy");
    if busy {
        return TransportError::PortBusy {
            port: path.to_string(),
            detail: format!("{text} (another program or controller object has it open)"),
        };
    }
    match e.kind() {
        serialport::ErrorKind::NoDevice if !Path::new(path).exists() => {
            TransportError::PortNotFound { port: path.to_string(), available: available_ports() }
        }
        serialport::ErrorKind::Io(kind) => TransportError::io(path, std::io::Error::new(kind, text)),
        _ => TransportError::io(path, std::io::Error::other(text)),
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
    fn missing_port_lists_available() {
        let e = SerialLink::open("/dev/does-not-exist-aefi", 9600).unwrap_err();
        assert!(matches!(e, TransportError::PortNotFound { ref port, .. } if port == "/dev/does-not-exist-aefi"), "{e}");
    }
}
