//! The in-process link to a simulated board: a [`ByteLink`] over a [`BoardSimPort`], with the
//! board's reply timing in real time (`timing=wire`) or none (`timing=none`).
//!
//! The port is borrowed from its bench slot for as long as the link lives (one client at a time,
//! as with an exclusively opened serial port) and goes back when the link is dropped.
use std::sync::{Arc, Mutex};

use super::board::{BoardSimHandle, BoardSimPort};
use aefi_scan_engine::clock::{Clock, MonotonicClock};
use aefi_scan_engine::transport::{ByteLink, TransportError};

/// Where a bench keeps its board while no link has it.
pub type BoardSlot = Arc<Mutex<Option<BoardSimPort>>>;

/// A link to a simulated board.
#[derive(Debug)]
pub struct SimBoardLink {
    name: String,
    port: Option<BoardSimPort>,
    slot: BoardSlot,
    handle: BoardSimHandle,
    rx: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl SimBoardLink {
    /// Takes the board out of `slot` for this link.
    ///
    /// # Errors
    /// [`TransportError::PortBusy`] when another link has it.
    pub fn open(name: &str, slot: &BoardSlot) -> Result<Self, TransportError> {
        Self::open_with_clock(name, slot, Arc::new(MonotonicClock))
    }

    /// Takes the board out of `slot` for this link, which stamps and waits on `clock` (a
    /// [`ManualClock`](aefi_scan_engine::clock::ManualClock) for stepped-time tests).
    ///
    /// # Errors
    /// [`TransportError::PortBusy`] when another link has it.
    pub fn open_with_clock(name: &str, slot: &BoardSlot, clock: Arc<dyn Clock>) -> Result<Self, TransportError> {
        let port = slot.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(|| TransportError::PortBusy {
            port: name.to_string(),
            detail: "the simulated board is open on another link".into(),
        })?;
        let handle = port.handle();
        Ok(Self { name: name.to_string(), port: Some(port), slot: Arc::clone(slot), handle, rx: Vec::new(), clock })
    }

    /// Sets the reply pacing for this link (`timing=wire` or `none` in its URL).
    pub fn set_wire_timing(&mut self, wire: bool) {
        if let Some(p) = self.port.as_mut() {
            p.set_wire_timing(wire);
        }
    }

    /// Fault injection and truth of the board behind this link.
    pub fn handle(&self) -> &BoardSimHandle {
        &self.handle
    }

    fn port(&mut self) -> Result<&mut BoardSimPort, TransportError> {
        let name = &self.name;
        self.port.as_mut().ok_or_else(|| TransportError::Disconnected { port: name.clone(), detail: "link closed".into() })
    }

    fn unplugged(&self) -> TransportError {
        TransportError::Disconnected { port: self.name.clone(), detail: "the board was unplugged".into() }
    }
}

impl Drop for SimBoardLink {
    fn drop(&mut self) {
        if let Some(mut port) = self.port.take() {
            port.discard_pending();
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(port);
        }
    }
}

impl ByteLink for SimBoardLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        self.port.as_ref().map(|p| p.model().config().timing.baud)
    }

    fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    fn sleep_until_ns(&self, t_ns: i64) {
        self.clock.sleep_until_ns(t_ns);
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        let t = self.clock.now_ns();
        let err = self.unplugged();
        self.port()?.write(frame, t).map_err(|_| err)?;
        Ok(t)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let start = self.clock.now_ns();
        loop {
            if let Some(pos) = self.rx.iter().position(|&b| b == terminator) {
                let rest = self.rx.split_off(pos + 1);
                let frame = std::mem::replace(&mut self.rx, rest);
                return Ok((frame, self.clock.now_ns()));
            }
            let now = self.clock.now_ns();
            let err = self.unplugged();
            let port = self.port()?;
            let mut got = Vec::new();
            port.read_ready(now, &mut got).map_err(|_| err)?;
            if !got.is_empty() {
                self.rx.extend_from_slice(&got);
                continue;
            }
            let next = port.next_release_ns();
            if now >= deadline_ns {
                return Err(TransportError::Timeout {
                    port: self.name.clone(),
                    waited_ms: (now - start) as f64 * 1e-6,
                    partial: String::from_utf8_lossy(&self.rx).into_owned(),
                });
            }
            // sleep until the next chunk is due (or the deadline), in short steps so an unplug
            // injected meanwhile is noticed promptly
            let until = next.unwrap_or(deadline_ns).min(deadline_ns);
            let nap = (until - now).clamp(0, 2_000_000);
            if nap > 0 {
                self.clock.sleep_until_ns(now + nap);
            }
        }
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        let now = self.clock.now_ns();
        let err = self.unplugged();
        let port = self.port()?;
        let mut junk = Vec::new();
        port.read_ready(now, &mut junk).map_err(|_| err)?;
        Ok(())
    }
}
