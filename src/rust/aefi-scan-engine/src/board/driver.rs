//! Driver of the acquisition board over a [`ByteLink`]: one command at a time, every read with a
//! deadline, typed errors naming the port, measurements stamped at send and receive.
//!
//! Invariants: the driver never waits past its deadline; a reply that fails to parse is an
//! error, never a measurement; before each command any stale input (the late tail of a reply
//! that timed out) is discarded, and the echoed acknowledgement catches a link that is still out
//! of step.
use super::convert::AdcScale;
use super::protocol::{check_ack, parse_codes, AckCheck, BoardProtocolError, Command, LineFramer, RawCodes, CHANNELS_USED};
use super::registers::{BoardConfig, ConfigError};
use super::timing::BoardTiming;
use crate::transport::{ByteLink, LinkOpener, TransportError};

/// Default reply deadline (ns) after a command is sent.
pub const DEFAULT_TIMEOUT_NS: i64 = 1_000_000_000;

/// A failure of the board driver.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The link failed (timeout, disconnection, I/O); the message names the board and the port.
    #[error("board: {0}")]
    Link(#[from] TransportError),
    /// The board answered something that is not a valid reply, or refused a command.
    #[error("board on {port}: {source}")]
    Protocol {
        /// The port.
        port: String,
        /// What was wrong.
        #[source]
        source: BoardProtocolError,
    },
    /// A configuration value out of range (nothing was written).
    #[error("board on {port}: {source}")]
    Config {
        /// The port.
        port: String,
        /// The value refused.
        #[source]
        source: ConfigError,
    },
}

/// One measurement with its timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedMeasurement {
    /// Averaging count.
    pub n_avg: u32,
    /// The 8 raw codes.
    pub codes: RawCodes,
    /// The six channels (V), `CHANNEL_NAMES` order.
    pub volts: [f64; CHANNELS_USED],
    /// `mono_ns` just before the command's first byte left.
    pub t_send_ns: i64,
    /// `mono_ns` when the data line's terminator arrived.
    pub t_recv_ns: i64,
    /// Estimated middle of the averaging window (the sample instant), from the timing model.
    pub t_mid_ns: i64,
    /// Bound of that estimate (ns): the part of the round trip the model does not explain.
    pub t_err_ns: i64,
}

impl TimedMeasurement {
    /// Round trip (ns).
    pub fn round_trip_ns(&self) -> i64 {
        self.t_recv_ns - self.t_send_ns
    }
}

impl BoardDriver<Box<dyn ByteLink>> {
    /// Opens the board at `url` through `opener` (`serial://PATH` at 1.5 Mbaud unless the URL
    /// sets `baud=`, `tcp://HOST:PORT`; `sim://NAME` with the simulator crate's opener) with a
    /// reply deadline of `timeout_ns`.
    ///
    /// # Errors
    /// Bad URL, missing or busy port.
    pub fn open(opener: &dyn LinkOpener, url: &str, timeout_ns: i64) -> Result<Self, BoardError> {
        let link = opener.open_board(url, std::time::Duration::from_nanos(timeout_ns.max(0) as u64))?;
        let mut d = BoardDriver::new(link);
        d.set_timeout_ns(timeout_ns);
        Ok(d)
    }
}

/// The board behind one link.
#[derive(Debug)]
pub struct BoardDriver<L: ByteLink> {
    link: L,
    timeout_ns: i64,
    ack_check: AckCheck,
    timing: BoardTiming,
    scale: AdcScale,
    config: Option<BoardConfig>,
}

impl<L: ByteLink> BoardDriver<L> {
    /// A driver on an open link, with the default timing model and ADC scale (gain 1, 2.442 V).
    pub fn new(link: L) -> Self {
        Self {
            link,
            timeout_ns: DEFAULT_TIMEOUT_NS,
            ack_check: AckCheck::Echo,
            timing: BoardTiming::legacy_fit(),
            scale: AdcScale::default(),
            config: None,
        }
    }

    /// Sets the reply deadline (ns after sending).
    pub fn set_timeout_ns(&mut self, timeout_ns: i64) {
        self.timeout_ns = timeout_ns.max(1);
    }

    /// The reply deadline (ns).
    pub fn timeout_ns(&self) -> i64 {
        self.timeout_ns
    }

    /// How acknowledgements are checked.
    pub fn set_ack_check(&mut self, mode: AckCheck) {
        self.ack_check = mode;
    }

    /// Replaces the timing model used to place averaging windows.
    pub fn set_timing(&mut self, timing: BoardTiming) {
        self.timing = timing;
    }

    /// The timing model.
    pub fn timing(&self) -> &BoardTiming {
        &self.timing
    }

    /// The current code → volt scale.
    pub fn scale(&self) -> &AdcScale {
        &self.scale
    }

    /// The last configuration written, if any.
    pub fn config(&self) -> Option<&BoardConfig> {
        self.config.as_ref()
    }

    /// The port name.
    pub fn port(&self) -> &str {
        self.link.name()
    }

    /// The link (e.g. to hand it back).
    pub fn into_link(self) -> L {
        self.link
    }

    fn protocol(&self, source: BoardProtocolError) -> BoardError {
        BoardError::Protocol { port: self.link.name().to_string(), source }
    }

    fn read_line(&mut self, deadline_ns: i64) -> Result<(String, usize, i64), BoardError> {
        let (bytes, t) = self.link.read_until(b'\n', deadline_ns)?;
        let mut f = LineFramer::new();
        f.push(&bytes);
        match f.next_line() {
            Ok(Some(line)) => Ok((line, bytes.len(), t)),
            Ok(None) => Err(self.protocol(BoardProtocolError::NotText(String::from_utf8_lossy(&bytes).into_owned()))),
            Err(e) => Err(self.protocol(e)),
        }
    }

    /// Sends `command` and checks its acknowledgement; returns the send stamp.
    fn exchange_ack(&mut self, command: &Command) -> Result<i64, BoardError> {
        self.link.discard_input()?;
        let t_send = self.link.write_frame(&command.encode())?;
        let (line, _, _) = self.read_line(t_send + self.timeout_ns)?;
        check_ack(command, &line, self.ack_check).map_err(|e| self.protocol(e))?;
        Ok(t_send)
    }

    /// Writes one register (`a<addr>*` then `d<value>*`).
    ///
    /// # Errors
    /// Link errors, a refused command, a wrong acknowledgement.
    pub fn write_register(&mut self, address: u16, value: u16) -> Result<(), BoardError> {
        self.exchange_ack(&Command::SelectRegister(address))?;
        self.exchange_ack(&Command::WriteData(value))?;
        Ok(())
    }

    /// The configuration step: checks `config`, writes every register, then uses its ADC gains
    /// to convert codes.
    ///
    /// # Errors
    /// [`BoardError::Config`] (before anything is written) or the first failing write.
    pub fn configure(&mut self, config: &BoardConfig) -> Result<usize, BoardError> {
        let writes = config.register_writes().map_err(|source| BoardError::Config { port: self.link.name().to_string(), source })?;
        for &(a, v) in &writes {
            self.write_register(a, v)?;
        }
        self.scale = AdcScale { vref_volts: super::convert::VREF_VOLTS, gains: config.adc_gains };
        self.config = Some(*config);
        Ok(writes.len())
    }

    /// One measurement averaged `n_avg` times on the MCU, with its timing.
    ///
    /// # Errors
    /// `n_avg` out of 1..=255 (nothing sent), link errors (timeout, unplugged), refused command,
    /// a data line that does not parse (garbage, fewer codes): never a partial measurement.
    pub fn measure_timed(&mut self, n_avg: u32) -> Result<TimedMeasurement, BoardError> {
        let command = Command::measure(n_avg).map_err(|e| self.protocol(e))?;
        let t_send = self.exchange_ack(&command)?;
        let (line, bytes, t_recv) = self.read_line(t_send + self.timeout_ns)?;
        let codes = parse_codes(&line).map_err(|e| self.protocol(e))?;
        let (t_mid_ns, t_err_ns) = self.timing.window_middle_ns(t_send, t_recv, n_avg, bytes);
        Ok(TimedMeasurement {
            n_avg,
            codes,
            volts: self.scale.channels_volts(&codes),
            t_send_ns: t_send,
            t_recv_ns: t_recv,
            t_mid_ns,
            t_err_ns,
        })
    }

    /// The six channel voltages of one measurement.
    ///
    /// # Errors
    /// As [`BoardDriver::measure_timed`].
    pub fn measure(&mut self, n_avg: u32) -> Result<[f64; CHANNELS_USED], BoardError> {
        Ok(self.measure_timed(n_avg)?.volts)
    }

    /// The 8 raw codes of one measurement.
    ///
    /// # Errors
    /// As [`BoardDriver::measure_timed`].
    pub fn read_codes(&mut self, n_avg: u32) -> Result<RawCodes, BoardError> {
        Ok(self.measure_timed(n_avg)?.codes)
    }
}
