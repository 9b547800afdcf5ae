//! Sans-IO codec of the AEFI acquisition board's serial protocol: no I/O, no clock.
//!
//! Facts (legacy bench code, `notes/aefi-legacy.md` §3): commands are ASCII terminated by `*`:
//! `a<addr>*` selects a register, `d<val>*` writes the selected register, `m<n>*` returns the
//! raw ADC codes averaged `n` times on the MCU as one tab-separated line (8 codes; the first six
//! are X/Y/Z × in-phase/quadrature). The legacy host reads **one line after every command and two
//! after `m<n>*`** (a "confirmation", then the data), and its LabVIEW-style benchmark reads the
//! confirmation of `m127*` as 9 bytes.
//!
//! **Assumptions** (the notes leave these open; the simulator implements exactly this and says so
//! in its `--help`):
//! - Lines end with `\r\n`; the parser also accepts a bare `\n`.
//! - The acknowledgement line of a command is the command echoed (with its `*`) followed by `OK`:
//!   `m127*` → `m127*OK\r\n`, 9 bytes, consistent with the benchmark's fixed read. A driver can
//!   relax this to "any line that is not an error" ([`AckCheck::AnyLine`]).
//! - An error is one line starting with `?` (e.g. `?RANGE a999*`) sent *instead of* the
//!   acknowledgement; no data line follows it.
//! - The data line carries 8 signed decimal integers separated by tabs, with a trailing tab (the
//!   legacy parser strips `\t` and skips empty fields, which points at one).
//! - `n` is 1..=[`N_AVG_MAX`] (255): the MCU is assumed to sum codes in an `i32`, and
//!   255 × 2²³ is the largest sum of 24-bit codes that fits.
//!
//! Invariants: no input makes the parser panic (property-tested); every malformed reply is a typed
//! [`BoardProtocolError`] quoting the offending text.

/// Codes per data line (two ADS131A04, four channels each).
pub const CODES_PER_LINE: usize = 8;
/// Codes used as the six lock-in channels (X/Y/Z × in-phase/quadrature, `CHANNEL_NAMES` order).
pub const CHANNELS_USED: usize = 6;
/// Largest averaging count accepted by `m<n>*` (assumption, see the module docs).
pub const N_AVG_MAX: u16 = 255;
/// Smallest and largest 24-bit signed ADC code.
pub const CODE_MIN: i32 = -(1 << 23);
/// Largest 24-bit signed ADC code.
pub const CODE_MAX: i32 = (1 << 23) - 1;
/// Longest reply line the parser accepts before giving up (a real data line is < 100 bytes).
pub const MAX_LINE_BYTES: usize = 256;
/// Longest command the board accepts (`a65535*` is 7 bytes).
pub const MAX_COMMAND_BYTES: usize = 16;

/// One command to the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `a<addr>*`: select the register that the next `d` writes.
    SelectRegister(u16),
    /// `d<val>*`: write the selected register.
    WriteData(u16),
    /// `m<n>*`: measure, averaging `n` conversions on the MCU.
    Measure(u16),
}

/// Errors of the codec. Messages quote the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoardProtocolError {
    /// A command argument out of range (e.g. `n_avg = 0`).
    #[error("{what} = {value} is out of range ({allowed})")]
    OutOfRange {
        /// The parameter.
        what: &'static str,
        /// Its value.
        value: i64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// The board answered with an error line (`?…`).
    #[error("the board refused {command:?}: {reply:?}")]
    Refused {
        /// The command sent.
        command: String,
        /// The error line.
        reply: String,
    },
    /// The acknowledgement is not the echo of the command sent (the link is out of step).
    #[error("expected the acknowledgement {expected:?}, got {got:?}")]
    UnexpectedAck {
        /// What was expected.
        expected: String,
        /// What came.
        got: String,
    },
    /// A data line with fewer codes than the board sends.
    #[error("data line has {got} codes, expected {expected}: {line:?}")]
    TooFewCodes {
        /// Codes found.
        got: usize,
        /// Codes expected.
        expected: usize,
        /// The line.
        line: String,
    },
    /// A data line with more codes than the board sends.
    #[error("data line has {got} codes, expected {expected}: {line:?}")]
    TooManyCodes {
        /// Codes found.
        got: usize,
        /// Codes expected.
        expected: usize,
        /// The line.
        line: String,
    },
    /// A field that is not a decimal integer.
    #[error("field {index} of the data line is not an integer ({field:?}) in {line:?}")]
    BadField {
        /// 0-based field index.
        index: usize,
        /// The field text.
        field: String,
        /// The line.
        line: String,
    },
    /// A code outside the 24-bit signed range.
    #[error("code {index} = {value} is outside the 24-bit range in {line:?}")]
    CodeOutOfRange {
        /// 0-based code index.
        index: usize,
        /// The value.
        value: i64,
        /// The line.
        line: String,
    },
    /// A line that is not printable ASCII.
    #[error("reply is not ASCII text: {0:?}")]
    NotText(String),
    /// A line longer than [`MAX_LINE_BYTES`] (garbage or a missing terminator).
    #[error("reply line longer than {MAX_LINE_BYTES} bytes without a terminator: {0:?}…")]
    LineTooLong(String),
    /// A command the board does not know (simulator side).
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Command {
    /// A measurement command, checking `n_avg` is 1..=[`N_AVG_MAX`].
    ///
    /// # Errors
    /// [`BoardProtocolError::OutOfRange`] naming `n_avg`.
    ///
    /// ```
    /// use aefi_scan_engine::board::protocol::Command;
    /// assert_eq!(Command::measure(10).unwrap().encode(), b"m10*");
    /// assert!(Command::measure(0).is_err());
    /// ```
    pub fn measure(n_avg: u32) -> Result<Self, BoardProtocolError> {
        if n_avg == 0 || n_avg > u32::from(N_AVG_MAX) {
            return Err(BoardProtocolError::OutOfRange { what: "n_avg", value: i64::from(n_avg), allowed: "1..=255" });
        }
        Ok(Command::Measure(n_avg as u16))
    }

    /// The bytes on the wire, `*` included.
    pub fn encode(&self) -> Vec<u8> {
        let (c, v) = match *self {
            Command::SelectRegister(a) => ('a', a),
            Command::WriteData(d) => ('d', d),
            Command::Measure(n) => ('m', n),
        };
        format!("{c}{v}*").into_bytes()
    }

    /// The acknowledgement line the board sends back (without the line terminator).
    pub fn ack_line(&self) -> String {
        let mut s = lossy(&self.encode());
        s.push_str("OK");
        s
    }

    /// Reply lines that follow the command: 2 for a measurement (ack + data), 1 otherwise.
    pub fn reply_lines(&self) -> usize {
        match self {
            Command::Measure(_) => 2,
            _ => 1,
        }
    }

    /// Parses one command without its `*` (simulator side).
    ///
    /// # Errors
    /// [`BoardProtocolError::UnknownCommand`] for anything but `a`/`d`/`m` + a decimal u16, and
    /// [`BoardProtocolError::OutOfRange`] for `m0` or `m` above [`N_AVG_MAX`].
    pub fn parse(body: &[u8]) -> Result<Self, BoardProtocolError> {
        let unknown = || BoardProtocolError::UnknownCommand(lossy(body));
        let (&head, digits) = body.split_first().ok_or_else(unknown)?;
        if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(unknown());
        }
        let value: u32 = std::str::from_utf8(digits).ok().and_then(|s| s.parse().ok()).ok_or_else(unknown)?;
        let v16 = u16::try_from(value).map_err(|_| BoardProtocolError::OutOfRange {
            what: "register value",
            value: i64::from(value),
            allowed: "0..=65535",
        })?;
        match head {
            b'a' => Ok(Command::SelectRegister(v16)),
            b'd' => Ok(Command::WriteData(v16)),
            b'm' => Command::measure(value),
            _ => Err(unknown()),
        }
    }
}

/// How strictly a driver checks acknowledgement lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckCheck {
    /// The ack must be the echo of the command + `OK` (the simulated board; detects a link that
    /// is out of step).
    #[default]
    Echo,
    /// Any line that is not an error line (`?…`) is an ack (for a firmware whose ack differs).
    AnyLine,
}

/// Checks the acknowledgement line of `command`.
///
/// # Errors
/// [`BoardProtocolError::Refused`] for an error line, [`BoardProtocolError::UnexpectedAck`] for
/// a different ack under [`AckCheck::Echo`].
///
/// ```
/// use aefi_scan_engine::board::protocol::{check_ack, AckCheck, Command};
/// let m = Command::Measure(127);
/// assert!(check_ack(&m, "m127*OK", AckCheck::Echo).is_ok());
/// assert!(check_ack(&m, "?RANGE m127*", AckCheck::AnyLine).is_err());
/// ```
pub fn check_ack(command: &Command, line: &str, mode: AckCheck) -> Result<(), BoardProtocolError> {
    if line.starts_with('?') {
        return Err(BoardProtocolError::Refused { command: lossy(&command.encode()), reply: line.to_string() });
    }
    let expected = command.ack_line();
    if mode == AckCheck::Echo && line != expected {
        return Err(BoardProtocolError::UnexpectedAck { expected, got: line.to_string() });
    }
    Ok(())
}

/// Raw codes of one measurement, in board order.
pub type RawCodes = [i32; CODES_PER_LINE];

/// Parses a data line (without its terminator) into the 8 raw codes.
///
/// # Errors
/// Error lines, too few/many codes, non-integer fields and codes outside 24 bits are typed errors.
///
/// ```
/// use aefi_scan_engine::board::protocol::parse_codes;
/// let codes = parse_codes("1\t-2\t3\t-4\t5\t-6\t7\t8\t").unwrap();
/// assert_eq!(codes, [1, -2, 3, -4, 5, -6, 7, 8]);
/// assert!(parse_codes("1\t2\t3").is_err());
/// ```
pub fn parse_codes(line: &str) -> Result<RawCodes, BoardProtocolError> {
    if line.starts_with('?') {
        return Err(BoardProtocolError::Refused { command: "m".into(), reply: line.to_string() });
    }
    let mut codes = [0i32; CODES_PER_LINE];
    let mut count = 0usize;
    for (index, field) in line.split('\t').map(str::trim).filter(|f| !f.is_empty()).enumerate() {
        let value: i64 =
            field.parse().map_err(|_| BoardProtocolError::BadField { index, field: field.to_string(), line: line.to_string() })?;
        if value < i64::from(CODE_MIN) || value > i64::from(CODE_MAX) {
            return Err(BoardProtocolError::CodeOutOfRange { index, value, line: line.to_string() });
        }
        if index >= CODES_PER_LINE {
            let got = line.split('\t').filter(|f| !f.trim().is_empty()).count();
            return Err(BoardProtocolError::TooManyCodes { got, expected: CODES_PER_LINE, line: line.to_string() });
        }
        codes[index] = value as i32;
        count = index + 1;
    }
    if count < CODES_PER_LINE {
        return Err(BoardProtocolError::TooFewCodes { got: count, expected: CODES_PER_LINE, line: line.to_string() });
    }
    Ok(codes)
}

/// Formats a data line exactly as the (simulated) board sends it, terminator included.
pub fn format_codes(codes: &RawCodes) -> Vec<u8> {
    let mut s = String::with_capacity(100);
    for c in codes {
        s.push_str(&c.to_string());
        s.push('\t');
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Splits a byte stream into lines (`\n`-terminated, a trailing `\r` dropped).
///
/// Bytes can be pushed in any chunking; [`LineFramer::next_line`] returns complete lines only.
#[derive(Debug, Default, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
}

impl LineFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drops everything buffered (after a timeout, before a new command).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Bytes waiting without a terminator.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// The next complete line, if any.
    ///
    /// # Errors
    /// [`BoardProtocolError::NotText`] for a line with non-ASCII or control bytes (other than
    /// tab), [`BoardProtocolError::LineTooLong`] when [`MAX_LINE_BYTES`] pile up without a
    /// terminator; the offending bytes are discarded so the framer can resynchronise.
    pub fn next_line(&mut self) -> Result<Option<String>, BoardProtocolError> {
        let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
            if self.buf.len() > MAX_LINE_BYTES {
                let head = lossy(&self.buf[..32.min(self.buf.len())]);
                self.buf.clear();
                return Err(BoardProtocolError::LineTooLong(head));
            }
            return Ok(None);
        };
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_LINE_BYTES {
            return Err(BoardProtocolError::LineTooLong(lossy(&line[..32])));
        }
        if !line.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(BoardProtocolError::NotText(lossy(&line)));
        }
        // ASCII checked just above, so this conversion cannot fail.
        Ok(Some(String::from_utf8(line).unwrap_or_default()))
    }
}

/// Splits the host→board byte stream into commands at `*` (simulator side).
#[derive(Debug, Default, Clone)]
pub struct CommandFramer {
    buf: Vec<u8>,
}

impl CommandFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete command: `Some(Ok)` for a valid one, `Some(Err)` for an invalid one
    /// (its bytes are consumed), `None` when no `*` has arrived yet. Whitespace and line breaks
    /// between commands are ignored (a terminal user may type them).
    pub fn next_command(&mut self) -> Option<Result<(Command, String), BoardProtocolError>> {
        // one drain, not a byte at a time: a flood of blanks must not cost quadratic time
        let blanks = self.buf.iter().take_while(|b| matches!(b, b' ' | b'\r' | b'\n' | b'\t')).count();
        self.buf.drain(..blanks);
        let Some(end) = self.buf.iter().position(|&b| b == b'*') else {
            if self.buf.len() > MAX_COMMAND_BYTES {
                let junk = quoted_head(&self.buf);
                self.buf.clear();
                return Some(Err(BoardProtocolError::UnknownCommand(junk)));
            }
            return None;
        };
        if end > MAX_COMMAND_BYTES {
            // a run too long for any command, pushed in one block: refused as a whole, quoted short
            let junk = quoted_head(&self.buf[..end]);
            self.buf.drain(..=end);
            return Some(Err(BoardProtocolError::UnknownCommand(junk)));
        }
        let body: Vec<u8> = self.buf.drain(..=end).collect();
        let text = lossy(&body);
        Some(Command::parse(&body[..body.len() - 1]).map(|c| (c, text)))
    }

    /// Bytes received and not yet split into a command.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }
}

/// The first bytes of a refused run and its length: an error line stays short whatever came.
fn quoted_head(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_COMMAND_BYTES {
        lossy(bytes)
    } else {
        format!("{}… ({} bytes)", lossy(&bytes[..MAX_COMMAND_BYTES]), bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encode_table() {
        for (cmd, wire, ack) in [
            (Command::SelectRegister(62), "a62*", "a62*OK"),
            (Command::WriteData(12583), "d12583*", "d12583*OK"),
            (Command::Measure(1), "m1*", "m1*OK"),
            (Command::Measure(127), "m127*", "m127*OK"),
        ] {
            assert_eq!(cmd.encode(), wire.as_bytes());
            assert_eq!(cmd.ack_line(), ack);
            assert_eq!(Command::parse(&wire.as_bytes()[..wire.len() - 1]).unwrap(), cmd);
        }
        // the legacy LabVIEW benchmark reads 9 bytes of confirmation after m127*
        assert_eq!(Command::Measure(127).ack_line().len() + 2, 9);
    }

    #[test]
    fn measure_range() {
        assert!(Command::measure(1).is_ok() && Command::measure(255).is_ok());
        for bad in [0, 256, 100_000] {
            let e = Command::measure(bad).unwrap_err();
            assert!(e.to_string().contains("n_avg") && e.to_string().contains("1..=255"), "{e}");
        }
    }

    #[test]
    fn command_parse_rejects() {
        for bad in ["", "x1", "m", "a-1", "m0", "m256", "d65536", "a1.5", "mm1", "a123456"] {
            assert!(Command::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_table() {
        let ok = [
            ("0\t0\t0\t0\t0\t0\t0\t0\t", [0; 8]),
            ("1\t2\t3\t4\t5\t6\t7\t8", [1, 2, 3, 4, 5, 6, 7, 8]),
            ("8388607\t-8388608\t0\t0\t0\t0\t0\t0\t", [CODE_MAX, CODE_MIN, 0, 0, 0, 0, 0, 0]),
            (" 1 \t2\t3\t4\t5\t6\t7\t8\t\t", [1, 2, 3, 4, 5, 6, 7, 8]),
        ];
        for (line, codes) in ok {
            assert_eq!(parse_codes(line).unwrap(), codes, "{line:?}");
        }
        type Check = fn(&BoardProtocolError) -> bool;
        let bad: [(&str, Check); 7] = [
            ("", |e| matches!(e, BoardProtocolError::TooFewCodes { got: 0, .. })),
            ("1\t2\t3\t4\t5\t6\t", |e| matches!(e, BoardProtocolError::TooFewCodes { got: 6, .. })),
            ("1\t2\t3\t4\t5\t6\t7\t8\t9\t", |e| matches!(e, BoardProtocolError::TooManyCodes { got: 9, .. })),
            ("1\t2\tx\t4\t5\t6\t7\t8", |e| matches!(e, BoardProtocolError::BadField { index: 2, .. })),
            ("8388608\t2\t3\t4\t5\t6\t7\t8", |e| matches!(e, BoardProtocolError::CodeOutOfRange { index: 0, .. })),
            ("?ADC", |e| matches!(e, BoardProtocolError::Refused { .. })),
            ("1 2 3 4 5 6 7 8", |e| matches!(e, BoardProtocolError::BadField { index: 0, .. })),
        ];
        for (line, is) in bad {
            let e = parse_codes(line).unwrap_err();
            assert!(is(&e), "{line:?} gave {e:?}");
        }
    }

    #[test]
    fn ack_checks() {
        let c = Command::SelectRegister(14);
        assert!(check_ack(&c, "a14*OK", AckCheck::Echo).is_ok());
        assert!(matches!(check_ack(&c, "a13*OK", AckCheck::Echo), Err(BoardProtocolError::UnexpectedAck { .. })));
        assert!(check_ack(&c, "whatever", AckCheck::AnyLine).is_ok());
        assert!(matches!(check_ack(&c, "?RANGE", AckCheck::AnyLine), Err(BoardProtocolError::Refused { .. })));
    }

    #[test]
    fn format_then_parse_round_trip() {
        let codes = [CODE_MIN, -1, 0, 1, CODE_MAX, 42, -42, 7];
        let mut f = LineFramer::new();
        f.push(&format_codes(&codes));
        let line = f.next_line().unwrap().unwrap();
        assert_eq!(parse_codes(&line).unwrap(), codes);
        assert_eq!(f.next_line().unwrap(), None);
    }

    #[test]
    fn framer_handles_chunks_crlf_and_garbage() {
        let mut f = LineFramer::new();
        f.push(b"m1*O");
        assert_eq!(f.next_line().unwrap(), None);
        f.push(b"K\r\n1\t2");
        assert_eq!(f.next_line().unwrap().as_deref(), Some("m1*OK"));
        assert_eq!(f.next_line().unwrap(), None);
        f.push(b"\n\xff\x00\n");
        assert_eq!(f.next_line().unwrap().as_deref(), Some("1\t2"));
        assert!(matches!(f.next_line(), Err(BoardProtocolError::NotText(_))));
        f.push(&[b'7'; MAX_LINE_BYTES + 1]);
        assert!(matches!(f.next_line(), Err(BoardProtocolError::LineTooLong(_))));
        assert!(f.pending().is_empty());
    }

    #[test]
    fn command_framer_splits_and_recovers() {
        let mut f = CommandFramer::new();
        f.push(b"a62*d8*\r\nm12");
        assert_eq!(f.next_command().unwrap().unwrap().0, Command::SelectRegister(62));
        assert_eq!(f.next_command().unwrap().unwrap().0, Command::WriteData(8));
        assert!(f.next_command().is_none());
        f.push(b"7*zz*");
        assert_eq!(f.next_command().unwrap().unwrap(), (Command::Measure(127), "m127*".to_string()));
        assert!(f.next_command().unwrap().is_err());
        f.push(&[b'9'; MAX_COMMAND_BYTES + 1]);
        assert!(f.next_command().unwrap().is_err());
        assert!(f.next_command().is_none());
    }

    proptest! {
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut f = LineFramer::new();
            f.push(&bytes);
            for _ in 0..8 {
                match f.next_line() {
                    Ok(Some(line)) => { let _ = parse_codes(&line); let _ = check_ack(&Command::Measure(1), &line, AckCheck::Echo); }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            let mut c = CommandFramer::new();
            c.push(&bytes);
            for _ in 0..64 { if c.next_command().is_none() { break; } }
        }

        #[test]
        fn lines_do_not_depend_on_chunking(
            lines in proptest::collection::vec(("[ -~\t]{0,120}", any::<bool>()), 1..10),
            cuts in proptest::collection::vec(1usize..40, 1..60)
        ) {
            let mut stream = Vec::new();
            for (line, crlf) in &lines {
                stream.extend_from_slice(line.as_bytes());
                stream.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            let mut f = LineFramer::new();
            let mut got = Vec::new();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                f.push(chunk);
                while let Some(line) = f.next_line().unwrap() {
                    got.push(line);
                }
                rest = tail;
            }
            let want: Vec<String> = lines.into_iter().map(|(line, _)| line).collect();
            prop_assert_eq!(got, want);
            prop_assert!(f.pending().is_empty());
        }

        #[test]
        fn framers_stay_bounded_under_a_flood(bytes in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let mut f = LineFramer::new();
            let mut c = CommandFramer::new();
            for chunk in bytes.chunks(64) {
                f.push(chunk);
                while !matches!(f.next_line(), Ok(None)) {}
                prop_assert!(f.pending().len() <= MAX_LINE_BYTES + 64);
                c.push(chunk);
                while c.next_command().is_some() {}
                prop_assert!(c.pending_len() <= MAX_COMMAND_BYTES + 64);
            }
        }

        #[test]
        fn codes_round_trip(codes in proptest::array::uniform8(CODE_MIN..=CODE_MAX)) {
            let wire = format_codes(&codes);
            let text = std::str::from_utf8(&wire).unwrap().trim_end_matches("\r\n");
            prop_assert_eq!(parse_codes(text).unwrap(), codes);
        }

        #[test]
        fn truncated_data_is_an_error(codes in proptest::array::uniform8(CODE_MIN..=CODE_MAX), cut in 0usize..8) {
            let wire = format_codes(&codes);
            let text = std::str::from_utf8(&wire).unwrap();
            let fields: Vec<&str> = text.split('\t').take(cut).collect();
            prop_assert!(parse_codes(&fields.join("\t")).is_err());
        }

        #[test]
        fn command_round_trip(kind in 0u8..3, v in 0u16..=u16::MAX) {
            let cmd = match kind { 0 => Command::SelectRegister(v), 1 => Command::WriteData(v), _ => Command::Measure(1 + v % N_AVG_MAX) };
            let wire = cmd.encode();
            let mut f = CommandFramer::new();
            f.push(&wire);
            prop_assert_eq!(f.next_command().unwrap().unwrap().0, cmd);
        }
    }
}
