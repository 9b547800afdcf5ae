//! Replies of the PMX-4EX-SA (M 8.1, 8.2): `OK`, decimals, `x:y:z:u` lists, the 9 fields of
//! `MST` with per-axis status bits, and the `?…` error codes. [`parse_reply`] reads any bytes
//! without panicking (property-tested in `protocol`). Re-exported by [`super::protocol`].
use bitflags::bitflags;

use super::protocol::{parse_int, Axis};

/// The `?…` error replies of M 8.2 Table 8.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// `?PULSING`: a move or position change while the axis outputs pulses.
    #[error("?PULSING: the axis is moving")]
    Pulsing,
    /// `?LIMIT`: a move on an axis with a latched limit error (CLR first).
    #[error("?LIMIT: limit error latched (send CLR)")]
    Limit,
    /// `?ALARM`: a move while the alarm input is on.
    #[error("?ALARM: alarm input active")]
    Alarm,
    /// `?ERRORED`: a command while the controller is in an error state.
    #[error("?ERRORED: controller in error state")]
    Errored,
    /// `?BUFFER FULL`: the 36-entry interpolation buffer is full.
    #[error("?BUFFER FULL")]
    BufferFull,
    /// `?In Incremental mode`: circle/arc move in INC mode.
    #[error("?In Incremental mode")]
    IncrementalMode,
    /// `?Index out of Range`.
    #[error("?Index out of Range")]
    IndexOutOfRange,
    /// `?SSPD Error`: SSPD without SSPDM.
    #[error("?SSPD Error: set SSPDM first")]
    SspdError,
    /// `?Sub not Initialized`.
    #[error("?Sub not Initialized")]
    SubNotInitialized,
    /// `?Timer Running`.
    #[error("?Timer Running")]
    TimerRunning,
    /// `?<command>`: the command was not understood.
    #[error("?{0}: unknown command")]
    UnknownCommand(String),
}

impl ControllerError {
    /// The reply text after `?` (e.g. `"LIMIT"`, `"BUFFER FULL"`, or the rejected command).
    pub fn code(&self) -> &str {
        match self {
            ControllerError::Pulsing => "PULSING",
            ControllerError::Limit => "LIMIT",
            ControllerError::Alarm => "ALARM",
            ControllerError::Errored => "ERRORED",
            ControllerError::BufferFull => "BUFFER FULL",
            ControllerError::IncrementalMode => "In Incremental mode",
            ControllerError::IndexOutOfRange => "Index out of Range",
            ControllerError::SspdError => "SSPD Error",
            ControllerError::SubNotInitialized => "Sub not Initialized",
            ControllerError::TimerRunning => "Timer Running",
            ControllerError::UnknownCommand(c) => c,
        }
    }

    /// The full reply text, `?` included.
    pub fn reply_text(&self) -> String {
        format!("?{}", self.code())
    }

    /// Classifies the text after `?`.
    pub fn from_code(code: &str) -> ControllerError {
        match code {
            "PULSING" => ControllerError::Pulsing,
            "LIMIT" => ControllerError::Limit,
            "ALARM" => ControllerError::Alarm,
            "ERRORED" => ControllerError::Errored,
            "BUFFER FULL" => ControllerError::BufferFull,
            "In Incremental mode" => ControllerError::IncrementalMode,
            "Index out of Range" => ControllerError::IndexOutOfRange,
            "SSPD Error" => ControllerError::SspdError,
            "Sub not Initialized" => ControllerError::SubNotInitialized,
            "Timer Running" => ControllerError::TimerRunning,
            other => ControllerError::UnknownCommand(other.to_string()),
        }
    }
}

bitflags! {
    /// Per-axis status word of `MST` (M 6.15 Table 6.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AxisStatus: u32 {
        /// Bit 0: accelerating.
        const ACCEL = 0x001;
        /// Bit 1: decelerating.
        const DECEL = 0x002;
        /// Bit 2: running at constant speed.
        const CONSTANT = 0x004;
        /// Bit 3: alarm input active.
        const ALARM_INPUT = 0x008;
        /// Bit 4: + limit input active.
        const PLUS_LIMIT_INPUT = 0x010;
        /// Bit 5: − limit input active.
        const MINUS_LIMIT_INPUT = 0x020;
        /// Bit 6: home input active.
        const HOME_INPUT = 0x040;
        /// Bit 7: + limit error latched.
        const PLUS_LIMIT_ERROR = 0x080;
        /// Bit 8: − limit error latched.
        const MINUS_LIMIT_ERROR = 0x100;
        /// Bit 9: alarm error latched.
        const ALARM_ERROR = 0x200;
        /// Bit 11: TOC communication watchdog expired.
        const TOC_TIMEOUT = 0x800;
    }
}

impl AxisStatus {
    /// Names of the bits, pyLabLib's spelling (`accel`, `sw_plus_lim`, …), in bit order.
    pub const NAMES: [(AxisStatus, &'static str); 11] = [
        (AxisStatus::ACCEL, "accel"),
        (AxisStatus::DECEL, "decel"),
        (AxisStatus::CONSTANT, "moving"),
        (AxisStatus::ALARM_INPUT, "alarm"),
        (AxisStatus::PLUS_LIMIT_INPUT, "sw_plus_lim"),
        (AxisStatus::MINUS_LIMIT_INPUT, "sw_minus_lim"),
        (AxisStatus::HOME_INPUT, "sw_home"),
        (AxisStatus::PLUS_LIMIT_ERROR, "err_plus_lim"),
        (AxisStatus::MINUS_LIMIT_ERROR, "err_minus_lim"),
        (AxisStatus::ALARM_ERROR, "err_alarm"),
        (AxisStatus::TOC_TIMEOUT, "TOC_timeout"),
    ];

    /// Pulsing: any of the three motion-phase bits (pyLabLib `is_moving`).
    pub fn is_moving(self) -> bool {
        self.intersects(AxisStatus::ACCEL | AxisStatus::DECEL | AxisStatus::CONSTANT)
    }

    /// Any latched error (limit or alarm).
    pub fn has_error(self) -> bool {
        self.intersects(AxisStatus::PLUS_LIMIT_ERROR | AxisStatus::MINUS_LIMIT_ERROR | AxisStatus::ALARM_ERROR)
    }
}

/// Move mode shown as MST field 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MoveMode {
    /// `ABS` (0).
    #[default]
    Absolute,
    /// `INC` (1).
    Incremental,
}

/// The 9 fields of `MST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MotorStatus {
    /// Status words of X, Y, Z, U.
    pub axes: [AxisStatus; 4],
    /// Interpolation buffer enabled.
    pub buffer_enabled: bool,
    /// Buffer start index.
    pub buffer_start: i64,
    /// Buffer end index.
    pub buffer_end: i64,
    /// Free buffer slots (of 36).
    pub buffer_free: i64,
    /// ABS or INC.
    pub mode: MoveMode,
}

impl MotorStatus {
    /// The status of one axis.
    pub fn axis(&self, axis: Axis) -> AxisStatus {
        self.axes[axis.index()]
    }

    /// Reads the 9 integer fields of an `MST` reply.
    ///
    /// # Errors
    /// [`ProtocolError::BadStatus`] on a wrong field count or values out of range.
    pub fn from_fields(fields: &[i64]) -> Result<MotorStatus, ProtocolError> {
        if fields.len() != 9 {
            return Err(ProtocolError::BadStatus(format!("MST has {} fields, expected 9", fields.len())));
        }
        let mut axes = [AxisStatus::empty(); 4];
        for (slot, &v) in axes.iter_mut().zip(fields) {
            let word = u32::try_from(v).map_err(|_| ProtocolError::BadStatus(format!("status word {v} out of range")))?;
            *slot = AxisStatus::from_bits_retain(word);
        }
        let mode = match fields[8] {
            0 => MoveMode::Absolute,
            1 => MoveMode::Incremental,
            m => return Err(ProtocolError::BadStatus(format!("move mode field {m} is neither 0 nor 1"))),
        };
        Ok(MotorStatus {
            axes,
            buffer_enabled: fields[4] != 0,
            buffer_start: fields[5],
            buffer_end: fields[6],
            buffer_free: fields[7],
            mode,
        })
    }

    /// The reply text, as the controller prints it.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}:{}:{}",
            self.axes[0].bits(),
            self.axes[1].bits(),
            self.axes[2].bits(),
            self.axes[3].bits(),
            u8::from(self.buffer_enabled),
            self.buffer_start,
            self.buffer_end,
            self.buffer_free,
            match self.mode {
                MoveMode::Absolute => 0,
                MoveMode::Incremental => 1,
            }
        )
    }
}

/// A reply, parsed without knowing which command it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK`.
    Ok,
    /// A bare decimal.
    Int(i64),
    /// Decimals joined by `:` (`PP`, `PE`, `PS`: 4; `MST`: 9).
    List(Vec<i64>),
    /// Any other printable text (`VER` → `V180BL`, `DN` → `4EX00`).
    Text(String),
    /// `?…`.
    Error(ControllerError),
}

/// A reply that cannot be read, or is not the kind the command expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Nothing between the previous terminator and this one.
    #[error("empty reply")]
    Empty,
    /// Bytes that are not printable ASCII (line noise, wrong baud).
    #[error("garbled reply {0:?}")]
    Garbled(String),
    /// Reply of the wrong kind for the command.
    #[error("unexpected reply {reply:?} to {command}")]
    Unexpected {
        /// The command text.
        command: String,
        /// The reply text.
        reply: String,
    },
    /// An `MST` reply that does not have the 9 expected fields.
    #[error("bad MST status: {0}")]
    BadStatus(String),
    /// A command too long for the link (USB: 63 bytes + NUL).
    #[error("command {0:?} is too long for the link")]
    TooLong(String),
}

/// Parses one reply (terminator stripped). Never panics.
///
/// # Errors
/// [`ProtocolError::Empty`] or [`ProtocolError::Garbled`].
///
/// ```
/// use aefi_scan_engine::arcus::protocol::{parse_reply, ControllerError, Reply};
/// assert_eq!(parse_reply(b"OK"), Ok(Reply::Ok));
/// assert_eq!(parse_reply(b"-15818"), Ok(Reply::Int(-15818)));
/// assert_eq!(parse_reply(b"1:2:3:4"), Ok(Reply::List(vec![1, 2, 3, 4])));
/// assert_eq!(parse_reply(b"?PULSING"), Ok(Reply::Error(ControllerError::Pulsing)));
/// ```
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, ProtocolError> {
    if bytes.is_empty() {
        return Err(ProtocolError::Empty);
    }
    if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(ProtocolError::Garbled(String::from_utf8_lossy(bytes).into_owned()));
    }
    // All printable ASCII from here on, so this is valid UTF-8.
    let text = String::from_utf8_lossy(bytes);
    if text == "OK" {
        return Ok(Reply::Ok);
    }
    if let Some(code) = text.strip_prefix('?') {
        return Ok(Reply::Error(ControllerError::from_code(code)));
    }
    if let Some(v) = parse_int(&text) {
        return Ok(Reply::Int(v));
    }
    if text.contains(':') {
        let fields: Option<Vec<i64>> = text.split(':').map(parse_int).collect();
        if let Some(fields) = fields {
            return Ok(Reply::List(fields));
        }
        return Err(ProtocolError::Garbled(text.into_owned()));
    }
    Ok(Reply::Text(text.into_owned()))
}

impl Reply {
    /// The reply text as the controller sends it (no terminator).
    pub fn encode(&self) -> String {
        match self {
            Reply::Ok => "OK".into(),
            Reply::Int(v) => v.to_string(),
            Reply::List(v) => v.iter().map(i64::to_string).collect::<Vec<_>>().join(":"),
            Reply::Text(t) => t.clone(),
            Reply::Error(e) => e.reply_text(),
        }
    }
}
