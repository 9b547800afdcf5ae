//! Sans-IO codec of the Arcus PMX-4EX-SA ASCII command set (notes/arcus-protocol.md §3–§5).
//!
//! [`Command`] covers the commands the driver and the simulator use; [`Command::encode`] gives the
//! bare command text (no `@NN` address, no CR: that is [`super::framing`]'s job) and
//! [`Command::parse`] reads the same text back. The simulator parses incoming frames with this
//! very parser, so the golden frames of the manual in the tests are what keep both sides honest.
//! [`parse_reply`] turns a reply (terminator already stripped) into a typed [`Reply`]; it never
//! panics on any input (property-tested).
//!
//! Invariants: `Command::parse(&c.encode()) == Ok(c)` for every command; commands are upper
//! case only (a lower-case command is an unknown command, M 8); numbers are plain decimal ASCII
//! with an optional `-`.
use std::fmt;

pub use super::reply::{parse_reply, AxisStatus, ControllerError, MotorStatus, MoveMode, ProtocolError, Reply};

/// One of the four axes of the PMX-4EX-SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Axis {
    /// Axis 1.
    X,
    /// Axis 2.
    Y,
    /// Axis 3.
    Z,
    /// Axis 4.
    U,
}

impl Axis {
    /// The four axes in controller order (MST fields, `PP` lists).
    pub const ALL: [Axis; 4] = [Axis::X, Axis::Y, Axis::Z, Axis::U];

    /// Zero-based index (X=0 … U=3).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The letter used on the wire.
    pub fn letter(self) -> char {
        ['X', 'Y', 'Z', 'U'][self.index()]
    }

    /// The axis of a wire letter (upper case only).
    pub fn from_letter(c: char) -> Option<Axis> {
        match c {
            'X' => Some(Axis::X),
            'Y' => Some(Axis::Y),
            'Z' => Some(Axis::Z),
            'U' => Some(Axis::U),
            _ => None,
        }
    }

    /// Parses `"X"`…`"U"` (also lower case, for user input such as Python arguments).
    ///
    /// # Errors
    /// A message naming the allowed values.
    pub fn parse_name(s: &str) -> Result<Axis, String> {
        let mut chars = s.trim().chars();
        match (chars.next().map(|c| c.to_ascii_uppercase()).and_then(Axis::from_letter), chars.next()) {
            (Some(a), None) => Ok(a),
            _ => Err(format!("axis must be one of X, Y, Z, U (got {s:?})")),
        }
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// The four motion parameters that exist globally and per axis (M 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpeedParam {
    /// `HS`: high (cruise) speed, pulses/s.
    HighSpeed,
    /// `LS`: low (start/stop) speed, pulses/s.
    LowSpeed,
    /// `ACC`: acceleration time, ms.
    Accel,
    /// `DEC`: deceleration time, ms.
    Decel,
}

impl SpeedParam {
    /// All four, in wire order.
    pub const ALL: [SpeedParam; 4] = [SpeedParam::HighSpeed, SpeedParam::LowSpeed, SpeedParam::Accel, SpeedParam::Decel];

    /// The mnemonic on the wire.
    pub fn mnemonic(self) -> &'static str {
        match self {
            SpeedParam::HighSpeed => "HS",
            SpeedParam::LowSpeed => "LS",
            SpeedParam::Accel => "ACC",
            SpeedParam::Decel => "DEC",
        }
    }
}

/// The sync-output (`SYN[axis]…`) registers (M 6.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncRegister {
    /// `P`: compare position (encoder counts).
    Position,
    /// `C`: condition 1 (=), 2 (<), 3 (>).
    Condition,
    /// `T`: output pulse width, ms (condition 1 only).
    Width,
}

impl SyncRegister {
    fn letter(self) -> char {
        match self {
            SyncRegister::Position => 'P',
            SyncRegister::Condition => 'C',
            SyncRegister::Width => 'T',
        }
    }
}

/// One command of the PMX-4EX-SA ASCII set (M 8.1), without framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `X<n>`, `X<n>Y<m>…`: single-axis move, or linear interpolation of 2–4 axes.
    Move(Vec<(Axis, i64)>),
    /// `J[axis]+` / `J[axis]-`: jog until STOP, ABORT or a limit.
    Jog {
        /// Jogged axis.
        axis: Axis,
        /// `+` when true.
        positive: bool,
    },
    /// `STOP` / `STOP[axis]`: decelerated stop.
    Stop(Option<Axis>),
    /// `ABORT` / `ABORT[axis]`: immediate stop.
    Abort(Option<Axis>),
    /// `H[axis][+|-][mode]`: homing, mode 0..4.
    Home {
        /// Homed axis.
        axis: Axis,
        /// Direction `+` when true.
        positive: bool,
        /// Homing mode 0..4 (M 6.13).
        mode: u8,
    },
    /// `T[axis]<n>`: on-the-fly target change of a running single-axis move.
    TargetChange {
        /// Axis of the running move.
        axis: Axis,
        /// New target.
        target: i64,
    },
    /// `P[axis]`: pulse position.
    GetPosition(Axis),
    /// `P[axis]=n`: set the pulse position (refused while pulsing).
    SetPosition(Axis, i64),
    /// `PP`: the four pulse positions `x:y:z:u`.
    GetPositions,
    /// `E[axis]`: encoder counter.
    GetEncoder(Axis),
    /// `E[axis]=n`: set the encoder counter.
    SetEncoder(Axis, i64),
    /// `PE`: the four encoder counters.
    GetEncoders,
    /// `PS`: current pulse rates `x:y:z:u` (pulses/s).
    GetSpeeds,
    /// `MST`: 9-field status.
    GetStatus,
    /// `HS`, `LS`, `ACC`, `DEC` (global) or `HSX`… (per axis).
    GetParam(SpeedParam, Option<Axis>),
    /// `HS=v`, `HSX=v`, …
    SetParam(SpeedParam, Option<Axis>, i64),
    /// `EDEC`.
    GetEdec,
    /// `EDEC=0/1`: decelerate with DEC (1) or ACC (0).
    SetEdec(bool),
    /// `EO`: enable bits (bit0 = X … bit3 = U).
    GetEnable,
    /// `EO=v`.
    SetEnable(u8),
    /// `EO1`..`EO4` (numbered 1..4, not by letter).
    GetEnableBit(u8),
    /// `EOn=0/1`.
    SetEnableBit(u8, bool),
    /// `ABS`: absolute move mode.
    Absolute,
    /// `INC`: incremental move mode.
    Incremental,
    /// `CLR` / `CLR[axis]`: clear latched errors.
    Clear(Option<Axis>),
    /// `IERR`.
    GetIerr,
    /// `IERR=0/1`: 1 = limits stop but latch no error.
    SetIerr(bool),
    /// `DN`: device name.
    GetDeviceName,
    /// `DN=4EXnn` (effective after STORE and a power cycle).
    SetDeviceName(String),
    /// `DB`: baud code 1..5.
    GetBaudCode,
    /// `DB=n`.
    SetBaudCode(u8),
    /// `VER`: firmware version.
    Version,
    /// `DI`: digital inputs (8 bits).
    GetInputs,
    /// `DIn`: one input, 1-based.
    GetInput(u8),
    /// `DO`: digital outputs.
    GetOutputs,
    /// `DO=v`.
    SetOutputs(u8),
    /// `DOn`.
    GetOutput(u8),
    /// `DOn=0/1`.
    SetOutput(u8, bool),
    /// `AIn`: analog input n (1..8) in mV.
    GetAnalogInput(u8),
    /// `SSPDM[axis]=w`: on-the-fly speed window.
    SetSpeedWindow(Axis, u8),
    /// `SSPD[axis]=v`: on-the-fly speed change.
    SpeedChange(Axis, i64),
    /// `TOC`.
    GetToc,
    /// `TOC=ms`: communication watchdog (0 = off).
    SetToc(i64),
    /// `LT[axis]=0/1`: arm the position latch.
    SetLatch(Axis, bool),
    /// `LT[axis]S`: latch status 0/1/2.
    GetLatchStatus(Axis),
    /// `LT[axis]P`: latched pulse position.
    GetLatchPosition(Axis),
    /// `LT[axis]E`: latched encoder position.
    GetLatchEncoder(Axis),
    /// `SYN[axis]O` / `SYN[axis]F`: sync output on/off.
    SetSync(Axis, bool),
    /// `SYN[axis]P`, `…C`, `…T`.
    GetSyncRegister(Axis, SyncRegister),
    /// `SYN[axis]P=n`, `…C=n`, `…T=n`.
    SetSyncRegister(Axis, SyncRegister, i64),
    /// `SYN[axis]S`: sync status 0/1/2.
    GetSyncStatus(Axis),
    /// `STORE`: save settings to flash.
    Store,
}

/// A command text this codec does not know (the controller answers `?<text>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Arcus command {0:?}")]
pub struct UnknownCommand(pub String);

fn axis_suffix(a: Option<Axis>) -> String {
    a.map(|a| a.letter().to_string()).unwrap_or_default()
}

impl Command {
    /// The command text, without address or terminator.
    ///
    /// ```
    /// use aefi_scan_engine::arcus::protocol::{Axis, Command};
    /// assert_eq!(Command::Move(vec![(Axis::X, 1000), (Axis::Y, -1000)]).encode(), "X1000Y-1000");
    /// assert_eq!(Command::Home { axis: Axis::X, positive: false, mode: 0 }.encode(), "HX-0");
    /// ```
    pub fn encode(&self) -> String {
        use Command::*;
        match self {
            Move(pairs) => pairs.iter().map(|(a, n)| format!("{a}{n}")).collect(),
            Jog { axis, positive } => format!("J{axis}{}", if *positive { '+' } else { '-' }),
            Stop(a) => format!("STOP{}", axis_suffix(*a)),
            Abort(a) => format!("ABORT{}", axis_suffix(*a)),
            Home { axis, positive, mode } => format!("H{axis}{}{mode}", if *positive { '+' } else { '-' }),
            TargetChange { axis, target } => format!("T{axis}{target}"),
            GetPosition(a) => format!("P{a}"),
            SetPosition(a, n) => format!("P{a}={n}"),
            GetPositions => "PP".into(),
            GetEncoder(a) => format!("E{a}"),
            SetEncoder(a, n) => format!("E{a}={n}"),
            GetEncoders => "PE".into(),
            GetSpeeds => "PS".into(),
            GetStatus => "MST".into(),
            GetParam(p, a) => format!("{}{}", p.mnemonic(), axis_suffix(*a)),
            SetParam(p, a, v) => format!("{}{}={v}", p.mnemonic(), axis_suffix(*a)),
            GetEdec => "EDEC".into(),
            SetEdec(b) => format!("EDEC={}", u8::from(*b)),
            GetEnable => "EO".into(),
            SetEnable(v) => format!("EO={v}"),
            GetEnableBit(n) => format!("EO{n}"),
            SetEnableBit(n, b) => format!("EO{n}={}", u8::from(*b)),
            Absolute => "ABS".into(),
            Incremental => "INC".into(),
            Clear(a) => format!("CLR{}", axis_suffix(*a)),
            GetIerr => "IERR".into(),
            SetIerr(b) => format!("IERR={}", u8::from(*b)),
            GetDeviceName => "DN".into(),
            SetDeviceName(s) => format!("DN={s}"),
            GetBaudCode => "DB".into(),
            SetBaudCode(c) => format!("DB={c}"),
            Version => "VER".into(),
            GetInputs => "DI".into(),
            GetInput(n) => format!("DI{n}"),
            GetOutputs => "DO".into(),
            SetOutputs(v) => format!("DO={v}"),
            GetOutput(n) => format!("DO{n}"),
            SetOutput(n, b) => format!("DO{n}={}", u8::from(*b)),
            GetAnalogInput(n) => format!("AI{n}"),
            SetSpeedWindow(a, w) => format!("SSPDM{a}={w}"),
            SpeedChange(a, v) => format!("SSPD{a}={v}"),
            GetToc => "TOC".into(),
            SetToc(ms) => format!("TOC={ms}"),
            SetLatch(a, b) => format!("LT{a}={}", u8::from(*b)),
            GetLatchStatus(a) => format!("LT{a}S"),
            GetLatchPosition(a) => format!("LT{a}P"),
            GetLatchEncoder(a) => format!("LT{a}E"),
            SetSync(a, on) => format!("SYN{a}{}", if *on { 'O' } else { 'F' }),
            GetSyncRegister(a, r) => format!("SYN{a}{}", r.letter()),
            SetSyncRegister(a, r, v) => format!("SYN{a}{}={v}", r.letter()),
            GetSyncStatus(a) => format!("SYN{a}S"),
            Store => "STORE".into(),
        }
    }

    /// Whether the command starts, changes or may start motion (refused with `?PULSING` on a
    /// pulsing axis, `?LIMIT` with a latched limit error).
    pub fn is_motion(&self) -> bool {
        matches!(self, Command::Move(_) | Command::Jog { .. } | Command::Home { .. })
    }

    /// Parses a command text (no address, no terminator), exactly as the controller would.
    ///
    /// # Errors
    /// [`UnknownCommand`] with the text, for anything the PMX-4EX-SA would answer `?<text>` to
    /// (including `ID`, lower case, and commands of the real set this codec does not model).
    ///
    /// ```
    /// use aefi_scan_engine::arcus::protocol::{Axis, Command};
    /// assert_eq!(Command::parse("PX"), Ok(Command::GetPosition(Axis::X)));
    /// assert!(Command::parse("ID").is_err());
    /// assert!(Command::parse("px").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Command, UnknownCommand> {
        parse_command(text).ok_or_else(|| UnknownCommand(text.to_string()))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// Plain decimal with an optional leading `-`; no `+`, no spaces, no overflow.
pub(super) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn parse_small(s: &str, lo: u8, hi: u8) -> Option<u8> {
    let v = parse_int(s)?;
    (i64::from(lo)..=i64::from(hi)).contains(&v).then_some(v as u8)
}

/// An optional single axis letter making up the whole of `s`.
fn opt_axis(s: &str) -> Option<Option<Axis>> {
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (None, _) => Some(None),
        (Some(l), None) => Axis::from_letter(l).map(Some),
        _ => None,
    }
}

/// `s` = axis letter + rest.
fn split_axis(s: &str) -> Option<(Axis, &str)> {
    let first = s.chars().next()?;
    Axis::from_letter(first).map(|a| (a, &s[1..]))
}

fn parse_move(s: &str) -> Option<Command> {
    let mut pairs: Vec<(Axis, i64)> = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (axis, tail) = split_axis(rest)?;
        if pairs.iter().any(|(a, _)| *a == axis) {
            return None;
        }
        let end = tail.find(|c: char| Axis::from_letter(c).is_some()).unwrap_or(tail.len());
        pairs.push((axis, parse_int(&tail[..end])?));
        rest = &tail[end..];
    }
    (!pairs.is_empty()).then_some(Command::Move(pairs))
}

fn parse_command(text: &str) -> Option<Command> {
    use Command::*;
    let (head, value) = match text.split_once('=') {
        Some((h, v)) => (h, Some(v)),
        None => (text, None),
    };
    // Fixed words first (no value allowed unless listed).
    let fixed = match (head, value) {
        ("ABS", None) => Some(Absolute),
        ("INC", None) => Some(Incremental),
        ("STORE", None) => Some(Store),
        ("VER", None) => Some(Version),
        ("MST", None) => Some(GetStatus),
        ("PP", None) => Some(GetPositions),
        ("PE", None) => Some(GetEncoders),
        ("PS", None) => Some(GetSpeeds),
        ("DN", None) => Some(GetDeviceName),
        ("DN", Some(v)) => {
            return (!v.is_empty() && v.len() <= 16 && v.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| SetDeviceName(v.to_string()))
        }
        ("DB", None) => Some(GetBaudCode),
        ("DB", Some(v)) => return parse_small(v, 1, 5).map(SetBaudCode),
        ("EO", None) => Some(GetEnable),
        ("EO", Some(v)) => return parse_small(v, 0, 15).map(SetEnable),
        ("IERR", None) => Some(GetIerr),
        ("IERR", Some(v)) => return parse_bool(v).map(SetIerr),
        ("EDEC", None) => Some(GetEdec),
        ("EDEC", Some(v)) => return parse_bool(v).map(SetEdec),
        ("TOC", None) => Some(GetToc),
        ("TOC", Some(v)) => return parse_int(v).filter(|ms| *ms >= 0).map(SetToc),
        ("DI", None) => Some(GetInputs),
        ("DO", None) => Some(GetOutputs),
        ("DO", Some(v)) => return parse_small(v, 0, 255).map(SetOutputs),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Global/per-axis speed parameters.
    for p in SpeedParam::ALL {
        if let Some(rest) = head.strip_prefix(p.mnemonic()) {
            if let Some(axis) = opt_axis(rest) {
                return match value {
                    None => Some(GetParam(p, axis)),
                    Some(v) => parse_int(v).map(|v| SetParam(p, axis, v)),
                };
            }
        }
    }
    if let Some(rest) = head.strip_prefix("STOP") {
        return if value.is_none() { opt_axis(rest).map(Stop) } else { None };
    }
    if let Some(rest) = head.strip_prefix("ABORT") {
        return if value.is_none() { opt_axis(rest).map(Abort) } else { None };
    }
    if let Some(rest) = head.strip_prefix("CLR") {
        return if value.is_none() { opt_axis(rest).map(Clear) } else { None };
    }
    if let Some(rest) = head.strip_prefix("SSPDM") {
        let (axis, tail) = split_axis(rest)?;
        return if tail.is_empty() { parse_small(value?, 0, 7).map(|w| SetSpeedWindow(axis, w)) } else { None };
    }
    if let Some(rest) = head.strip_prefix("SSPD") {
        let (axis, tail) = split_axis(rest)?;
        return if tail.is_empty() { parse_int(value?).map(|v| SpeedChange(axis, v)) } else { None };
    }
    if let Some(rest) = head.strip_prefix("SYN") {
        let (axis, tail) = split_axis(rest)?;
        return match (tail, value) {
            ("O", None) => Some(SetSync(axis, true)),
            ("F", None) => Some(SetSync(axis, false)),
            ("S", None) => Some(GetSyncStatus(axis)),
            (r, v) => {
                let reg = match r {
                    "P" => SyncRegister::Position,
                    "C" => SyncRegister::Condition,
                    "T" => SyncRegister::Width,
                    _ => return None,
                };
                match v {
                    None => Some(GetSyncRegister(axis, reg)),
                    Some(v) => parse_int(v).map(|v| SetSyncRegister(axis, reg, v)),
                }
            }
        };
    }
    if let Some(rest) = head.strip_prefix("LT") {
        let (axis, tail) = split_axis(rest)?;
        return match (tail, value) {
            ("", Some(v)) => parse_bool(v).map(|b| SetLatch(axis, b)),
            ("S", None) => Some(GetLatchStatus(axis)),
            ("P", None) => Some(GetLatchPosition(axis)),
            ("E", None) => Some(GetLatchEncoder(axis)),
            _ => None,
        };
    }
    if let Some(rest) = head.strip_prefix("EO") {
        let n = parse_small(rest, 1, 4)?;
        return match value {
            None => Some(GetEnableBit(n)),
            Some(v) => parse_bool(v).map(|b| SetEnableBit(n, b)),
        };
    }
    if let Some(rest) = head.strip_prefix("DI") {
        return if value.is_none() { parse_small(rest, 1, 8).map(GetInput) } else { None };
    }
    if let Some(rest) = head.strip_prefix("DO") {
        let n = parse_small(rest, 1, 8)?;
        return match value {
            None => Some(GetOutput(n)),
            Some(v) => parse_bool(v).map(|b| SetOutput(n, b)),
        };
    }
    if let Some(rest) = head.strip_prefix("AI") {
        return if value.is_none() { parse_small(rest, 1, 8).map(GetAnalogInput) } else { None };
    }
    let mut chars = head.chars();
    let first = chars.next()?;
    let rest = &head[first.len_utf8()..];
    match first {
        'P' | 'E' => {
            let (axis, tail) = split_axis(rest)?;
            if !tail.is_empty() {
                return None;
            }
            match (first, value) {
                ('P', None) => Some(GetPosition(axis)),
                ('P', Some(v)) => parse_int(v).map(|n| SetPosition(axis, n)),
                ('E', None) => Some(GetEncoder(axis)),
                (_, Some(v)) => parse_int(v).map(|n| SetEncoder(axis, n)),
                _ => None,
            }
        }
        'J' if value.is_none() => {
            let (axis, tail) = split_axis(rest)?;
            match tail {
                "+" => Some(Jog { axis, positive: true }),
                "-" => Some(Jog { axis, positive: false }),
                _ => None,
            }
        }
        'H' if value.is_none() => {
            let (axis, tail) = split_axis(rest)?;
            let positive = match tail.chars().next()? {
                '+' => true,
                '-' => false,
                _ => return None,
            };
            let mode_text = &tail[1..];
            let mode = if mode_text.is_empty() { 0 } else { parse_small(mode_text, 0, 4)? };
            Some(Home { axis, positive, mode })
        }
        'T' if value.is_none() => {
            let (axis, tail) = split_axis(rest)?;
            parse_int(tail).map(|target| TargetChange { axis, target })
        }
        'X' | 'Y' | 'Z' | 'U' if value.is_none() => parse_move(head),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Command::*;

    /// Golden frames: the command texts of the manual (M 5.2.3, 6.x, 8.1) and of pyLabLib.
    #[test]
    fn golden_commands_parse_and_encode() {
        let table: Vec<(&str, Command)> = vec![
            ("X1000", Move(vec![(Axis::X, 1000)])),
            ("X1000Y-1000Z500", Move(vec![(Axis::X, 1000), (Axis::Y, -1000), (Axis::Z, 500)])),
            ("U-5", Move(vec![(Axis::U, -5)])),
            ("JX+", Jog { axis: Axis::X, positive: true }),
            ("JU-", Jog { axis: Axis::U, positive: false }),
            ("STOP", Stop(None)),
            ("STOPY", Stop(Some(Axis::Y))),
            ("ABORT", Abort(None)),
            ("ABORTZ", Abort(Some(Axis::Z))),
            ("HX-0", Home { axis: Axis::X, positive: false, mode: 0 }),
            ("HY+4", Home { axis: Axis::Y, positive: true, mode: 4 }),
            ("TX2500", TargetChange { axis: Axis::X, target: 2500 }),
            ("PX", GetPosition(Axis::X)),
            ("PY=0", SetPosition(Axis::Y, 0)),
            ("PP", GetPositions),
            ("EZ", GetEncoder(Axis::Z)),
            ("EU=-7", SetEncoder(Axis::U, -7)),
            ("PE", GetEncoders),
            ("PS", GetSpeeds),
            ("MST", GetStatus),
            ("HS", GetParam(SpeedParam::HighSpeed, None)),
            ("HS=1500", SetParam(SpeedParam::HighSpeed, None, 1500)),
            ("HSX=1500", SetParam(SpeedParam::HighSpeed, Some(Axis::X), 1500)),
            ("LSX", GetParam(SpeedParam::LowSpeed, Some(Axis::X))),
            ("ACC=300", SetParam(SpeedParam::Accel, None, 300)),
            ("DECY", GetParam(SpeedParam::Decel, Some(Axis::Y))),
            ("EDEC=1", SetEdec(true)),
            ("EO", GetEnable),
            ("EO=15", SetEnable(15)),
            ("EO1", GetEnableBit(1)),
            ("EO4=1", SetEnableBit(4, true)),
            ("ABS", Absolute),
            ("INC", Incremental),
            ("CLRX", Clear(Some(Axis::X))),
            ("IERR", GetIerr),
            ("IERR=1", SetIerr(true)),
            ("DN", GetDeviceName),
            ("DN=4EX02", SetDeviceName("4EX02".into())),
            ("DB", GetBaudCode),
            ("DB=5", SetBaudCode(5)),
            ("VER", Version),
            ("DI", GetInputs),
            ("DI3", GetInput(3)),
            ("DO", GetOutputs),
            ("DO=5", SetOutputs(5)),
            ("DO2=1", SetOutput(2, true)),
            ("AI1", GetAnalogInput(1)),
            ("SSPDMX=1", SetSpeedWindow(Axis::X, 1)),
            ("SSPDX=2000", SpeedChange(Axis::X, 2000)),
            ("TOC=1000", SetToc(1000)),
            ("LTX=1", SetLatch(Axis::X, true)),
            ("LTYS", GetLatchStatus(Axis::Y)),
            ("LTXP", GetLatchPosition(Axis::X)),
            ("LTXE", GetLatchEncoder(Axis::X)),
            ("SYNXO", SetSync(Axis::X, true)),
            ("SYNXF", SetSync(Axis::X, false)),
            ("SYNXP=1000", SetSyncRegister(Axis::X, SyncRegister::Position, 1000)),
            ("SYNXC", GetSyncRegister(Axis::X, SyncRegister::Condition)),
            ("SYNYT=5", SetSyncRegister(Axis::Y, SyncRegister::Width, 5)),
            ("SYNXS", GetSyncStatus(Axis::X)),
            ("STORE", Store),
        ];
        for (text, cmd) in table {
            assert_eq!(Command::parse(text), Ok(cmd.clone()), "parse {text}");
            assert_eq!(cmd.encode(), text, "encode {cmd:?}");
        }
    }

    #[test]
    fn unknown_commands_rejected_with_their_text() {
        for text in [
            "ID",
            "px",
            "mst",
            "",
            "X",
            "XY",
            "X1000X5",
            "X+5",
            "HX",
            "HX*0",
            "HX-5",
            "JX",
            "JX+1",
            "P",
            "PXX",
            "EO5",
            "EO=16",
            "DI9",
            "AI0",
            "DB=6",
            "IERR=2",
            "HS=",
            "HS=abc",
            "STOPQ",
            "POX",
            "BO",
            "SCVX=1",
            "X99999999999999999999",
            "LTX",
            "SYNX",
            "SYNXQ",
            "DN=",
            "ABS=1",
        ] {
            assert_eq!(Command::parse(text), Err(UnknownCommand(text.into())), "{text:?}");
        }
    }

    #[test]
    fn golden_replies() {
        let table: Vec<(&[u8], Reply)> = vec![
            (b"OK", Reply::Ok),
            (b"27523", Reply::Int(27523)),
            (b"-2147483648", Reply::Int(-2147483648)),
            (b"-15818:-27951:0:0", Reply::List(vec![-15818, -27951, 0, 0])),
            (b"0:0:0:0:0:0:0:36:0", Reply::List(vec![0, 0, 0, 0, 0, 0, 0, 36, 0])),
            (b"4EX00", Reply::Text("4EX00".into())),
            (b"V180BL", Reply::Text("V180BL".into())),
            (b"?PULSING", Reply::Error(ControllerError::Pulsing)),
            (b"?LIMIT", Reply::Error(ControllerError::Limit)),
            (b"?ALARM", Reply::Error(ControllerError::Alarm)),
            (b"?ERRORED", Reply::Error(ControllerError::Errored)),
            (b"?BUFFER FULL", Reply::Error(ControllerError::BufferFull)),
            (b"?In Incremental mode", Reply::Error(ControllerError::IncrementalMode)),
            (b"?Index out of Range", Reply::Error(ControllerError::IndexOutOfRange)),
            (b"?SSPD Error", Reply::Error(ControllerError::SspdError)),
            (b"?Sub not Initialized", Reply::Error(ControllerError::SubNotInitialized)),
            (b"?Timer Running", Reply::Error(ControllerError::TimerRunning)),
            (b"?ID", Reply::Error(ControllerError::UnknownCommand("ID".into()))),
        ];
        for (bytes, reply) in table {
            assert_eq!(parse_reply(bytes), Ok(reply.clone()), "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(reply.encode().as_bytes(), bytes);
        }
        assert_eq!(parse_reply(b""), Err(ProtocolError::Empty));
        assert!(matches!(parse_reply(b"12\x0034"), Err(ProtocolError::Garbled(_))));
        assert!(matches!(parse_reply(b"1:x:3"), Err(ProtocolError::Garbled(_))));
    }

    #[test]
    fn mst_fields_and_bits() {
        // X decelerating with a + limit error latched; Y at rest on its − limit (AEFI dump).
        let st = MotorStatus::from_fields(&[0x082, 0x020, 0, 0x800, 0, 0, 0, 36, 1]).unwrap();
        assert!(st.axis(Axis::X).is_moving());
        assert!(st.axis(Axis::X).contains(AxisStatus::PLUS_LIMIT_ERROR));
        assert!(st.axis(Axis::X).has_error());
        assert!(!st.axis(Axis::Y).is_moving());
        assert!(st.axis(Axis::Y).contains(AxisStatus::MINUS_LIMIT_INPUT));
        assert!(st.axis(Axis::U).contains(AxisStatus::TOC_TIMEOUT));
        assert_eq!(st.mode, MoveMode::Incremental);
        assert_eq!(st.buffer_free, 36);
        assert_eq!(st.encode(), "130:32:0:2048:0:0:0:36:1");
        assert!(MotorStatus::from_fields(&[0, 0, 0, 0]).is_err());
        assert!(MotorStatus::from_fields(&[0, 0, 0, 0, 0, 0, 0, 36, 2]).is_err());
        assert!(MotorStatus::from_fields(&[-1, 0, 0, 0, 0, 0, 0, 36, 0]).is_err());
    }

    fn axis_strategy() -> impl Strategy<Value = Axis> {
        prop_oneof![Just(Axis::X), Just(Axis::Y), Just(Axis::Z), Just(Axis::U)]
    }

    fn param_strategy() -> impl Strategy<Value = SpeedParam> {
        prop_oneof![Just(SpeedParam::HighSpeed), Just(SpeedParam::LowSpeed), Just(SpeedParam::Accel), Just(SpeedParam::Decel)]
    }

    fn reg_strategy() -> impl Strategy<Value = SyncRegister> {
        prop_oneof![Just(SyncRegister::Position), Just(SyncRegister::Condition), Just(SyncRegister::Width)]
    }

    fn reply_strategy() -> impl Strategy<Value = Reply> {
        let codes = prop_oneof![
            Just(ControllerError::Pulsing),
            Just(ControllerError::Limit),
            Just(ControllerError::Alarm),
            Just(ControllerError::Errored),
            Just(ControllerError::BufferFull),
            Just(ControllerError::IncrementalMode),
            Just(ControllerError::IndexOutOfRange),
            Just(ControllerError::SspdError),
            Just(ControllerError::SubNotInitialized),
            Just(ControllerError::TimerRunning),
            "[A-Z][A-Z0-9=]{0,10}".prop_map(|c| ControllerError::from_code(&c)),
        ];
        prop_oneof![
            Just(Reply::Ok),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<i64>(), 2..10).prop_map(Reply::List),
            // device names and versions: printable, not a number, no ':' and not "OK"
            "[A-Z][A-Za-z0-9 ]{0,15}".prop_filter("OK is its own reply", |t| t != "OK").prop_map(Reply::Text),
            codes.prop_map(Reply::Error),
        ]
    }

    fn command_strategy() -> impl Strategy<Value = Command> {
        let a = axis_strategy;
        let oa = || proptest::option::of(axis_strategy());
        let n = || any::<i64>();
        prop_oneof![
            proptest::sample::subsequence(vec![Axis::X, Axis::Y, Axis::Z, Axis::U], 1..=4)
                .prop_flat_map(|axes| {
                    let len = axes.len();
                    (Just(axes), proptest::collection::vec(any::<i64>(), len))
                })
                .prop_map(|(axes, ns)| Move(axes.into_iter().zip(ns).collect())),
            (a(), any::<bool>()).prop_map(|(axis, positive)| Jog { axis, positive }),
            oa().prop_map(Stop),
            oa().prop_map(Abort),
            (a(), any::<bool>(), 0u8..=4).prop_map(|(axis, positive, mode)| Home { axis, positive, mode }),
            (a(), n()).prop_map(|(axis, target)| TargetChange { axis, target }),
            a().prop_map(GetPosition),
            (a(), n()).prop_map(|(x, v)| SetPosition(x, v)),
            Just(GetPositions),
            a().prop_map(GetEncoder),
            (a(), n()).prop_map(|(x, v)| SetEncoder(x, v)),
            Just(GetEncoders),
            Just(GetSpeeds),
            Just(GetStatus),
            (param_strategy(), oa()).prop_map(|(p, x)| GetParam(p, x)),
            (param_strategy(), oa(), n()).prop_map(|(p, x, v)| SetParam(p, x, v)),
            Just(GetEdec),
            any::<bool>().prop_map(SetEdec),
            Just(GetEnable),
            (0u8..=15).prop_map(SetEnable),
            (1u8..=4).prop_map(GetEnableBit),
            (1u8..=4, any::<bool>()).prop_map(|(i, b)| SetEnableBit(i, b)),
            Just(Absolute),
            Just(Incremental),
            oa().prop_map(Clear),
            Just(GetIerr),
            any::<bool>().prop_map(SetIerr),
            Just(GetDeviceName),
            (0u8..=99).prop_map(|d| SetDeviceName(format!("4EX{d:02}"))),
            Just(GetBaudCode),
            (1u8..=5).prop_map(SetBaudCode),
            Just(Version),
            Just(GetInputs),
            (1u8..=8).prop_map(GetInput),
            Just(GetOutputs),
            any::<u8>().prop_map(SetOutputs),
            (1u8..=8).prop_map(GetOutput),
            (1u8..=8, any::<bool>()).prop_map(|(i, b)| SetOutput(i, b)),
            (1u8..=8).prop_map(GetAnalogInput),
            (a(), 0u8..=7).prop_map(|(x, w)| SetSpeedWindow(x, w)),
            (a(), n()).prop_map(|(x, v)| SpeedChange(x, v)),
            Just(GetToc),
            (0i64..=i64::MAX).prop_map(SetToc),
            (a(), any::<bool>()).prop_map(|(x, b)| SetLatch(x, b)),
            a().prop_map(GetLatchStatus),
            a().prop_map(GetLatchPosition),
            a().prop_map(GetLatchEncoder),
            (a(), any::<bool>()).prop_map(|(x, b)| SetSync(x, b)),
            (a(), reg_strategy()).prop_map(|(x, r)| GetSyncRegister(x, r)),
            (a(), reg_strategy(), n()).prop_map(|(x, r, v)| SetSyncRegister(x, r, v)),
            a().prop_map(GetSyncStatus),
            Just(Store),
        ]
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(cmd in command_strategy()) {
            prop_assert_eq!(Command::parse(&cmd.encode()), Ok(cmd));
        }

        #[test]
        fn reply_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn reply_parser_never_panics_on_near_misses(text in "[-?:0-9OKA-Z ]{0,40}") {
            let _ = parse_reply(text.as_bytes());
        }

        #[test]
        fn command_parser_never_panics(text in "\\PC{0,40}") {
            let _ = Command::parse(&text);
        }

        #[test]
        fn every_reply_round_trips(reply in reply_strategy()) {
            prop_assert_eq!(parse_reply(reply.encode().as_bytes()), Ok(reply));
        }

        #[test]
        fn a_reply_with_a_control_or_high_byte_is_garbled(
            text in "[-?:0-9OKA-Z ]{0,20}", at in any::<prop::sample::Index>(), bad in prop_oneof![0u8..0x20, 0x7fu8..=0xff]
        ) {
            let mut bytes = text.into_bytes();
            bytes.insert(at.index(bytes.len() + 1), bad);
            prop_assert!(matches!(parse_reply(&bytes), Err(ProtocolError::Garbled(_))));
        }

        #[test]
        fn device_frames_do_not_depend_on_chunking(
            frames in proptest::collection::vec((0u8..=99, "[A-Z0-9=+-]{1,12}"), 1..8),
            noise in "[a-z ]{0,5}", cuts in proptest::collection::vec(1usize..9, 1..40)
        ) {
            let mut stream = noise.into_bytes();
            for (device, command) in &frames {
                stream.extend_from_slice(format!("@{device:02}{command}\r\n").as_bytes());
            }
            let mut decoder = super::super::framing::DeviceFrameDecoder::new();
            let mut got = Vec::new();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                got.extend(decoder.push(chunk).into_iter().map(|f| (f.device, f.command)));
                rest = tail;
            }
            let want: Vec<_> = frames.into_iter().map(|(d, c)| (Some(d), c)).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(decoder.partial_len(), 0);
        }

        #[test]
        fn device_frame_decoder_never_panics_and_stays_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut decoder = super::super::framing::DeviceFrameDecoder::new();
            let _ = decoder.push(&bytes);
            prop_assert!(decoder.partial_len() <= 256);
        }

        #[test]
        fn reply_round_trip_of_lists(v in proptest::collection::vec(any::<i64>(), 2..10)) {
            let r = Reply::List(v);
            prop_assert_eq!(parse_reply(r.encode().as_bytes()), Ok(r));
        }
    }
}
