//! Serves a simulated PMX-4EX-SA on a PTY pair or on TCP, so any RS-485 client (pyserial,
//! pyLabLib, the Rust serial/TCP transports) can talk to it as to the real controller.
//!
//! - PTY: the slave is in raw mode (no CR→NL, no echo) and kept open by the server, so clients
//!   may open and close it freely; the path is handed to `on_ready` (the CLI prints it first).
//! - TCP: binds (127.0.0.1:0 by default); `on_ready` gets `tcp://127.0.0.1:PORT`. One thread per
//!   client, all on the same controller.
//!
//! Bytes are accepted in any chunking; frames for another device number get no reply. With wire
//! timing, a command takes effect when its frame would have fully arrived at the line's baud
//! (half duplex: not before the previous reply ended) and its reply is written when the wire
//! would have delivered its last byte. Serving stops when `stop` is set; the caller sets it on
//! SIGINT/SIGTERM. A disconnect fault silences the PTY and closes TCP connections.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(unix)]
use serialport::{SerialPort, TTYPort};

use super::arcus::{ArcusSim, FrameOutcome};
use super::bench::{lock_sim, sleep_until_ns};
use aefi_scan_engine::arcus::framing::{wire_time_ns, DeviceFrameDecoder, Framing};
use aefi_scan_engine::clock::mono_ns;

/// How often blocked reads wake up to look at `stop`.
const POLL: Duration = Duration::from_millis(50);

/// Serving options.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Delay replies as the wire would (default true; false = `--no-delay`).
    pub no_delay: bool,
    /// Rewrite this JSON motion log whenever motion changes, and at the end.
    pub truth_log: Option<PathBuf>,
}

/// Why a server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The OS refused a pseudo-terminal.
    #[error("cannot create a pseudo-terminal: {0}")]
    Pty(String),
    /// Bind/accept/read/write failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The device side of one client connection: frames in, replies out at the wire instants.
struct Session {
    sim: Arc<Mutex<ArcusSim>>,
    decoder: DeviceFrameDecoder,
    wire: bool,
    /// When the line is free again (end of the last reply): the next frame cannot start before.
    line_free_ns: i64,
    /// When the first byte of the frame being received arrived.
    frame_start_ns: Option<i64>,
    log: Option<TruthLogWriter>,
}

impl Session {
    fn new(sim: Arc<Mutex<ArcusSim>>, opts: &ServeOptions) -> Session {
        Session {
            sim,
            decoder: DeviceFrameDecoder::new(),
            wire: !opts.no_delay,
            line_free_ns: 0,
            frame_start_ns: None,
            log: opts.truth_log.clone().map(TruthLogWriter::new),
        }
    }

    /// Handles received bytes; `write` sends each reply. Returns false when the link is dead.
    fn feed(&mut self, bytes: &[u8], t_rx: i64, write: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<bool> {
        if self.decoder.partial_len() == 0 {
            self.frame_start_ns = Some(t_rx);
        }
        for frame in self.decoder.push(bytes) {
            let (outcome, ready) = {
                let mut sim = lock_sim(&self.sim);
                if frame.device != Some(sim.device_number()) {
                    continue;
                }
                // On the simulated wire the frame's last byte arrives `wire time` after its first
                // (and not before the previous reply has left the half-duplex line).
                let t_effect = if self.wire {
                    let start = self.line_free_ns.max(self.frame_start_ns.unwrap_or(t_rx));
                    (start + wire_time_ns(frame.wire_bytes, sim.baud())).max(t_rx)
                } else {
                    t_rx
                };
                // A further frame in the same chunk follows back to back.
                self.frame_start_ns = Some(t_effect);
                let framing = Framing::Rs485 { device: sim.device_number() };
                let out = sim.handle_command(&frame.command, t_effect, framing, self.wire);
                (out, t_effect)
            };
            match outcome {
                FrameOutcome::Reply { bytes, ready_ns } => {
                    if self.wire {
                        sleep_until_ns(ready_ns);
                    }
                    write(&bytes)?;
                    self.line_free_ns = ready_ns.max(ready);
                }
                FrameOutcome::Silent => {}
                FrameOutcome::Dead => return Ok(false),
            }
            if let Some(log) = &mut self.log {
                log.maybe_write(&self.sim);
            }
        }
        if self.decoder.partial_len() == 0 {
            self.frame_start_ns = None;
        }
        Ok(true)
    }

    fn finish(&mut self) {
        if let Some(log) = &mut self.log {
            log.write(&self.sim);
        }
    }
}

/// Writes the motion log to a file when it changed (atomically: temp file, then rename).
#[derive(Debug)]
pub struct TruthLogWriter {
    path: PathBuf,
    version: Option<u64>,
}

impl TruthLogWriter {
    /// A writer to `path` (nothing written yet).
    pub fn new(path: PathBuf) -> TruthLogWriter {
        TruthLogWriter { path, version: None }
    }

    /// Writes the log if the motion changed since the last write.
    pub fn maybe_write(&mut self, sim: &Mutex<ArcusSim>) {
        let v = lock_sim(sim).log_version();
        if self.version != Some(v) {
            self.write(sim);
        }
    }

    /// Writes the log now.
    pub fn write(&mut self, sim: &Mutex<ArcusSim>) {
        let (v, json) = {
            let s = lock_sim(sim);
            (s.log_version(), s.truth_log().to_json())
        };
        if let Ok(json) = json {
            if write_atomically(&self.path, json.as_bytes()).is_ok() {
                self.version = Some(v);
            }
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A PTY pair ready to serve a simulated controller.
#[cfg(unix)]
#[derive(Debug)]
pub struct ArcusPty {
    master: TTYPort,
    // Held open so the master never reads EIO/hang-up while no client has the slave open.
    _slave: TTYPort,
    path: String,
}

#[cfg(unix)]
impl ArcusPty {
    /// Creates the pair (slave in raw mode).
    ///
    /// # Errors
    /// [`ServeError::Pty`].
    pub fn open() -> Result<ArcusPty, ServeError> {
        // The pair takes no lock on the slave, so clients can open it exclusively (flock).
        let (master, slave) = TTYPort::pair().map_err(|e| ServeError::Pty(e.to_string()))?;
        let path = slave.name().ok_or_else(|| ServeError::Pty("the slave has no name".into()))?;
        Ok(ArcusPty { master, _slave: slave, path })
    }

    /// The path clients open (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Serves `sim` until `stop` is set.
    ///
    /// # Errors
    /// I/O errors on the master side.
    pub fn serve(mut self, sim: Arc<Mutex<ArcusSim>>, opts: &ServeOptions, stop: &AtomicBool) -> Result<(), ServeError> {
        let io = |context: &str| {
            let context = context.to_string();
            move |source| ServeError::Io { context, source }
        };
        self.master.set_timeout(POLL).map_err(|e| ServeError::Pty(e.to_string()))?;
        let mut session = Session::new(sim, opts);
        let mut dead = false;
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            match self.master.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(n) => {
                    if dead {
                        continue;
                    }
                    let t_rx = mono_ns();
                    let master = &mut self.master;
                    let mut write = |b: &[u8]| {
                        master.write_all(b)?;
                        master.flush()
                    };
                    dead = !session.feed(&buf[..n], t_rx, &mut write).map_err(io("PTY write"))?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                // EIO when no client has the slave open on some kernels: wait for the next one.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(io("PTY read")(e)),
            }
        }
        session.finish();
        Ok(())
    }
}

/// A bound TCP server of a simulated controller.
#[derive(Debug)]
pub struct ArcusTcpServer {
    listener: TcpListener,
    url: String,
}

impl ArcusTcpServer {
    /// Binds `addr` (`HOST:PORT`, port 0 = any free port).
    ///
    /// # Errors
    /// [`ServeError::Io`].
    pub fn bind(addr: &str) -> Result<ArcusTcpServer, ServeError> {
        let listener = TcpListener::bind(addr).map_err(|source| ServeError::Io { context: format!("bind {addr}"), source })?;
        let local = listener.local_addr().map_err(|source| ServeError::Io { context: "local address".into(), source })?;
        listener.set_nonblocking(true).map_err(|source| ServeError::Io { context: "nonblocking".into(), source })?;
        Ok(ArcusTcpServer { listener, url: format!("tcp://{local}") })
    }

    /// `tcp://HOST:PORT` clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves `sim` until `stop` is set (one thread per client).
    ///
    /// # Errors
    /// Accept errors.
    pub fn serve(self, sim: Arc<Mutex<ArcusSim>>, opts: &ServeOptions, stop: &AtomicBool) -> Result<(), ServeError> {
        std::thread::scope(|scope| {
            while !stop.load(Ordering::Relaxed) {
                match self.listener.accept() {
                    Ok((stream, _)) => {
                        let sim = Arc::clone(&sim);
                        scope.spawn(move || serve_tcp_client(stream, sim, opts, stop));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(source) => return Err(ServeError::Io { context: "accept".into(), source }),
                }
            }
            Ok(())
        })
    }
}

fn serve_tcp_client(mut stream: TcpStream, sim: Arc<Mutex<ArcusSim>>, opts: &ServeOptions, stop: &AtomicBool) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut session = Session::new(sim, opts);
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let t_rx = mono_ns();
                let mut out = match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => break,
                };
                let mut write = |b: &[u8]| out.write_all(b);
                match session.feed(&buf[..n], t_rx, &mut write) {
                    Ok(true) => {}
                    // Disconnect fault or a write failure: the connection goes away.
                    Ok(false) | Err(_) => break,
                }
            }
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    session.finish();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arcus::SimConfig;

    #[test]
    fn session_handles_any_chunking_and_ignores_other_devices() {
        let sim = Arc::new(Mutex::new(ArcusSim::new(SimConfig::default(), 0)));
        let mut s = Session::new(Arc::clone(&sim), &ServeOptions { no_delay: true, truth_log: None });
        let mut out = Vec::new();
        let mut write = |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        };
        for chunk in [&b"@0"[..], b"0V", b"ER\r@01VER\r@00", b"ID\r"] {
            assert!(s.feed(chunk, mono_ns(), &mut write).unwrap());
        }
        assert_eq!(out, b"V180BL\r?ID\r");
    }

    #[test]
    fn wire_timing_of_a_reply() {
        let sim = Arc::new(Mutex::new(ArcusSim::new(SimConfig::default(), 0)));
        let mut s = Session::new(Arc::clone(&sim), &ServeOptions::default());
        let mut n = 0;
        let mut write = |_: &[u8]| {
            n += 1;
            Ok(())
        };
        let t0 = mono_ns();
        s.feed(b"@00PX\r", t0, &mut write).unwrap();
        // At 9600 baud: the 6 command bytes, the turnaround, then the 2 reply bytes "0\r".
        let elapsed = mono_ns() - t0;
        let expected = wire_time_ns(6, 9600) + crate::arcus::DEFAULT_TURNAROUND_NS + wire_time_ns(2, 9600);
        assert!(elapsed >= expected, "{elapsed} < {expected}");
        assert_eq!(n, 1);
    }
}
