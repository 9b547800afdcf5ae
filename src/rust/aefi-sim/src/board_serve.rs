//! Serves a simulated acquisition board on a pseudo-terminal, so any serial client (pyserial,
//! the Rust serial transport, a terminal program) can talk to it as to the real board.
//!
//! The server keeps the slave side open so the master never sees a hang-up between clients; it
//! writes each reply chunk when the board model releases it (the board's timing), and stops when
//! `stop` is set or the board is unplugged (the master is then closed, so the client's next
//! read/write fails as with a pulled USB-serial adapter).
#![cfg(unix)] // PTY pairs (TTYPort) and EIO: the bench PC (Windows) uses a real COM port instead
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

use super::board::BoardSimPort;
use aefi_scan_engine::clock::mono_ns;

/// Longest the server sleeps between checks of `stop` (ns).
const IDLE_POLL_NS: i64 = 5_000_000;
/// Reply bytes kept for a client that does not read (a few seconds of data lines at 87 Hz).
const TX_BACKLOG_BYTES: usize = 16 * 1024;

/// Why serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ServeEnd {
    /// `stop` was set.
    Stopped,
    /// The `unplug` fault was injected.
    Unplugged,
}

/// A PTY pair ready to serve: the client opens [`BoardPty::path`].
#[derive(Debug)]
pub struct BoardPty {
    master: TTYPort,
    // held open so the master does not read EIO while no client has the slave open
    _slave: TTYPort,
    path: String,
}

impl BoardPty {
    /// Creates the PTY pair.
    ///
    /// # Errors
    /// The OS refused a new pseudo-terminal.
    pub fn open() -> Result<Self, serialport::Error> {
        let (master, slave) = TTYPort::pair()?;
        let path = slave.name().unwrap_or_default();
        Ok(Self { master, _slave: slave, path })
    }

    /// The path clients open (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Serves `port` until `stop` is set or the board is unplugged.
    ///
    /// # Errors
    /// I/O errors on the master side.
    pub fn serve(mut self, mut port: BoardSimPort, stop: &AtomicBool) -> std::io::Result<ServeEnd> {
        let mut buf = [0u8; 512];
        // Replies released but not yet taken by the terminal: a client that writes without
        // reading must not block the server (it would stop reading, and the client's writes
        // would stall); past TX_BACKLOG_BYTES the oldest bytes are lost, as from a UART's buffer.
        let mut backlog: VecDeque<u8> = VecDeque::with_capacity(TX_BACKLOG_BYTES);
        let mut out = Vec::with_capacity(256);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(ServeEnd::Stopped);
            }
            let now = mono_ns();
            out.clear();
            if port.read_ready(now, &mut out).is_err() {
                return Ok(ServeEnd::Unplugged);
            }
            backlog.extend(out.iter().copied());
            if backlog.len() > TX_BACKLOG_BYTES {
                let excess = backlog.len() - TX_BACKLOG_BYTES;
                backlog.drain(..excess);
            }
            if !backlog.is_empty() {
                self.master.set_timeout(Duration::from_micros(100))?;
                let (head, _) = backlog.as_slices();
                match self.master.write(head) {
                    Ok(n) => {
                        backlog.drain(..n);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                        ) => {}
                    // EIO: no client has the slave open; what it did not read is gone with it
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => backlog.clear(),
                    Err(e) => return Err(e),
                }
            }
            let wait_ns = if backlog.is_empty() {
                port.next_release_ns().map_or(IDLE_POLL_NS, |t| (t - mono_ns()).clamp(0, IDLE_POLL_NS))
            } else {
                // the terminal is full: look again soon, reading meanwhile
                1_000_000
            };
            // TTYPort::read polls for at most its timeout; 0 would mean "forever" for some backends
            self.master.set_timeout(Duration::from_nanos(wait_ns.max(100_000) as u64))?;
            match self.master.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    if port.write(&buf[..n], mono_ns()).is_err() {
                        return Ok(ServeEnd::Unplugged);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                // EIO: no client has the slave open right now; keep serving
                Err(e) if e.raw_os_error() == Some(libc::EIO) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{static_probe, BoardModel, BoardSimConfig};
    use aefi_scan_engine::board::protocol::{parse_codes, LineFramer};
    use std::sync::Arc;

    #[test]
    fn serves_the_protocol_on_a_pty() {
        let cfg = BoardSimConfig { wire_timing: true, ..Default::default() };
        let port = BoardSimPort::new(BoardModel::new(cfg, static_probe(38.0, 32.0)));
        let pty = BoardPty::open().unwrap();
        let path = pty.path().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let server = std::thread::spawn(move || pty.serve(port, &stop2));
        let mut client = serialport::new(&path, 1_500_000).timeout(Duration::from_secs(2)).open_native().unwrap();
        client.write_all(b"m10*").unwrap();
        let mut framer = LineFramer::new();
        let mut lines = Vec::new();
        let mut buf = [0u8; 256];
        while lines.len() < 2 {
            let n = client.read(&mut buf).unwrap();
            framer.push(&buf[..n]);
            while let Some(l) = framer.next_line().unwrap() {
                lines.push(l);
            }
        }
        assert_eq!(lines[0], "m10*OK");
        assert!(parse_codes(&lines[1]).unwrap()[4] > 1_000_000);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(server.join().unwrap().unwrap(), ServeEnd::Stopped);
    }
}
