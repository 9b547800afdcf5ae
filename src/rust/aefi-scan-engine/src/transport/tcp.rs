//! TCP link carrying the RS-485 framing (the simulator's TCP server, serial-to-Ethernet adapters).
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{read_until_deadline, ByteLink, TransportError};
use crate::clock::mono_ns;

/// A connected TCP stream.
#[derive(Debug)]
pub struct TcpLink {
    name: String,
    baud: Option<u32>,
    stream: TcpStream,
    rx: Vec<u8>,
}

impl TcpLink {
    /// Connects to `addr` (`HOST:PORT`) within `timeout`.
    ///
    /// # Errors
    /// [`TransportError::Refused`] if nothing listens there, I/O errors otherwise.
    pub fn connect(addr: &str, baud: Option<u32>, timeout: Duration) -> Result<TcpLink, TransportError> {
        let addrs: Vec<_> = addr.to_socket_addrs().map_err(|e| TransportError::io(addr, e))?.collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(|e| TransportError::io(addr, e))?;
                    return Ok(TcpLink { name: addr.to_string(), baud, stream, rx: Vec::new() });
                }
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(TransportError::Refused { port: addr.to_string() }),
            Some(e) => Err(TransportError::io(addr, e)),
            None => Err(TransportError::PortNotFound { port: addr.to_string(), available: vec![] }),
        }
    }
}

impl ByteLink for TcpLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        self.baud
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        let t = mono_ns();
        self.stream.write_all(frame).map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                TransportError::Disconnected { port: self.name.clone(), detail: e.to_string() }
            }
            _ => TransportError::io(&self.name, e),
        })?;
        Ok(t)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let mut chunk = [0u8; 512];
        let (stream, name) = (&mut self.stream, &self.name);
        read_until_deadline(name, &mut self.rx, terminator, deadline_ns, |rx, timeout| {
            stream.set_read_timeout(Some(timeout)).map_err(|e| TransportError::io(name, e))?;
            match stream.read(&mut chunk) {
                Ok(0) => Err(TransportError::Disconnected { port: name.clone(), detail: "peer closed".into() }),
                Ok(n) => {
                    rx.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Ok(())
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    Err(TransportError::Disconnected { port: name.clone(), detail: e.to_string() })
                }
                Err(e) => Err(TransportError::io(name, e)),
            }
        })
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.stream.set_nonblocking(true).map_err(|e| TransportError::io(&self.name, e))?;
        let mut chunk = [0u8; 512];
        let result = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(TransportError::io(&self.name, e)),
            }
        };
        self.stream.set_nonblocking(false).map_err(|e| TransportError::io(&self.name, e))?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_says_so() {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = TcpLink::connect(&format!("127.0.0.1:{port}"), None, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, TransportError::Refused { .. }), "{e}");
        assert!(e.to_string().starts_with(&format!("connection refused by 127.0.0.1:{port}")), "{e}");
    }

    #[test]
    fn read_times_out_instead_of_hanging() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut link = TcpLink::connect(&addr, None, Duration::from_millis(500)).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        let e = link.read_until(b'\r', mono_ns() + 20_000_000).unwrap_err();
        assert!(matches!(e, TransportError::Timeout { .. }), "{e}");
    }
}
