//! Framing of Arcus commands and replies on the two kinds of link (notes §1, §2).
//!
//! - RS-485 (serial, TCP, in-process simulator): host → `@NN<cmd>\r`, device → `<reply>\r`; `NN`
//!   is the last two digits of the device name (`4EX00` → `00`).
//! - USB (vendor bulk protocol): a 64-byte buffer holding the NUL-terminated command, answered by
//!   a 64-byte buffer holding the NUL-terminated reply; no address, no CR.
//!
//! Also the device side of RS-485 framing ([`DeviceFrameDecoder`]): any chunking, frames end at
//! CR, bare LF ignored, text without a leading `@` ignored. Byte counts are exposed for
//! wire-time accounting (8N1 = 10 bit times per byte).
use super::protocol::ProtocolError;

/// Size of a USB transfer buffer (M 5.1.2).
pub const USB_PACKET_BYTES: usize = 64;

/// Bit times per byte on an 8N1 UART.
pub const BITS_PER_BYTE: u64 = 10;

/// How commands are framed on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `@NN<cmd>\r`, replies end at CR.
    Rs485 {
        /// Device number 0..=99 (last two digits of the device name).
        device: u8,
    },
    /// 64-byte NUL-terminated packets, unaddressed.
    Usb,
}

impl Framing {
    /// The bytes to write for `command` (bare command text).
    ///
    /// # Errors
    /// [`ProtocolError::TooLong`] if the command does not fit a USB packet.
    ///
    /// ```
    /// use aefi_scan_engine::arcus::framing::Framing;
    /// assert_eq!(Framing::Rs485 { device: 0 }.encode("PX").unwrap(), b"@00PX\r");
    /// assert_eq!(Framing::Usb.encode("PX").unwrap().len(), 64);
    /// ```
    pub fn encode(&self, command: &str) -> Result<Vec<u8>, ProtocolError> {
        match self {
            Framing::Rs485 { device } => Ok(format!("@{device:02}{command}\r").into_bytes()),
            Framing::Usb => {
                if command.len() >= USB_PACKET_BYTES {
                    return Err(ProtocolError::TooLong(command.to_string()));
                }
                let mut buf = vec![0u8; USB_PACKET_BYTES];
                buf[..command.len()].copy_from_slice(command.as_bytes());
                Ok(buf)
            }
        }
    }

    /// The byte that ends a reply on this link.
    pub fn reply_terminator(&self) -> u8 {
        match self {
            Framing::Rs485 { .. } => b'\r',
            Framing::Usb => 0,
        }
    }

    /// The reply text of a raw reply (up to and maybe including the terminator).
    /// Leading LF/NUL left over from a previous reply are skipped.
    pub fn reply_text<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        let term = self.reply_terminator();
        let end = raw.iter().position(|&b| b == term).unwrap_or(raw.len());
        let body = &raw[..end];
        let start = body.iter().position(|&b| b != b'\n' && b != 0 && b != b'\r').unwrap_or(body.len());
        &body[start..]
    }

    /// The reply bytes a device sends for `reply` text.
    pub fn encode_reply(&self, reply: &str) -> Vec<u8> {
        match self {
            Framing::Rs485 { .. } => format!("{reply}\r").into_bytes(),
            Framing::Usb => {
                let mut buf = vec![0u8; USB_PACKET_BYTES];
                let n = reply.len().min(USB_PACKET_BYTES - 1);
                buf[..n].copy_from_slice(&reply.as_bytes()[..n]);
                buf
            }
        }
    }

    /// Bytes on the wire for a command of `command_len` characters.
    pub fn command_wire_bytes(&self, command_len: usize) -> usize {
        match self {
            Framing::Rs485 { .. } => command_len + 4,
            Framing::Usb => USB_PACKET_BYTES,
        }
    }

    /// Bytes on the wire for a reply of `reply_len` characters.
    pub fn reply_wire_bytes(&self, reply_len: usize) -> usize {
        match self {
            Framing::Rs485 { .. } => reply_len + 1,
            Framing::Usb => USB_PACKET_BYTES,
        }
    }
}

/// A USB full-speed frame (ns). The USB link's timing model counts one frame for the command
/// packet to reach the controller and one for the reply packet to come back, plus the controller's
/// turnaround [I: the manual only says a USB transaction takes single-digit ms, M 5.1.2]; the fake
/// PerformaxCom library answers on this model and `aefi-doctor` compares measured round trips with it.
pub const USB_FRAME_NS: i64 = 1_000_000;

/// The USB link's model of one command's round trip (ns): two frames plus `turnaround_ns`.
///
/// ```
/// assert_eq!(aefi_scan_engine::arcus::framing::usb_round_trip_ns(200_000), 2_200_000);
/// ```
pub fn usb_round_trip_ns(turnaround_ns: i64) -> i64 {
    2 * USB_FRAME_NS + turnaround_ns.max(0)
}

/// Time to send `bytes` at `baud` (8N1), in ns.
pub fn wire_time_ns(bytes: usize, baud: u32) -> i64 {
    if baud == 0 {
        return 0;
    }
    ((bytes as u64 * BITS_PER_BYTE * 1_000_000_000) / u64::from(baud)) as i64
}

/// Device number of a device name: its last two digits (`4EX00` → 0).
pub fn device_number_of_name(name: &str) -> Option<u8> {
    let digits: String = name.chars().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect();
    if digits.len() == 2 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// One complete frame received by a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFrame {
    /// The address `NN` (None if the two characters after `@` are not digits).
    pub device: Option<u8>,
    /// The command text (after the address, before CR).
    pub command: String,
    /// Bytes of the frame on the wire, CR included.
    pub wire_bytes: usize,
}

/// Device side of RS-485 framing: feed bytes in any chunking, get complete frames out.
#[derive(Debug, Default)]
pub struct DeviceFrameDecoder {
    buf: Vec<u8>,
}

/// Longest frame kept; a longer run without CR is line noise and is dropped.
const MAX_FRAME_BYTES: usize = 256;

impl DeviceFrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of a frame received so far but not yet ended by CR.
    pub fn partial_len(&self) -> usize {
        self.buf.len()
    }

    /// Adds received bytes and returns the frames they complete, in order.
    ///
    /// ```
    /// use aefi_scan_engine::arcus::framing::DeviceFrameDecoder;
    /// let mut d = DeviceFrameDecoder::new();
    /// assert!(d.push(b"@00P").is_empty());
    /// let frames = d.push(b"X\r\n@01VER\r");
    /// assert_eq!(frames.len(), 2);
    /// assert_eq!((frames[0].device, frames[0].command.as_str()), (Some(0), "PX"));
    /// assert_eq!(frames[1].device, Some(1));
    /// ```
    pub fn push(&mut self, bytes: &[u8]) -> Vec<DeviceFrame> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' => {}
                b'\r' => {
                    let raw = std::mem::take(&mut self.buf);
                    if let Some(frame) = Self::frame_of(&raw) {
                        out.push(frame);
                    }
                }
                _ => {
                    if self.buf.len() < MAX_FRAME_BYTES {
                        self.buf.push(b);
                    } else {
                        self.buf.clear();
                    }
                }
            }
        }
        out
    }

    fn frame_of(raw: &[u8]) -> Option<DeviceFrame> {
        // Noise before the '@' (e.g. a half frame) is skipped: the frame starts at the last '@'.
        let at = raw.iter().rposition(|&b| b == b'@')?;
        let body = &raw[at + 1..];
        let (device, rest) = if body.len() >= 2 && body[0].is_ascii_digit() && body[1].is_ascii_digit() {
            (Some((body[0] - b'0') * 10 + (body[1] - b'0')), &body[2..])
        } else {
            (None, body)
        };
        Some(DeviceFrame { device, command: String::from_utf8_lossy(rest).into_owned(), wire_bytes: raw.len() - at + 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rs485_golden_frames() {
        let f = Framing::Rs485 { device: 0 };
        for (cmd, frame) in [("POX", &b"@00POX\r"[..]), ("DI", b"@00DI\r"), ("STORE", b"@00STORE\r")] {
            assert_eq!(f.encode(cmd).unwrap(), frame);
        }
        assert_eq!(Framing::Rs485 { device: 7 }.encode("VER").unwrap(), b"@07VER\r");
        assert_eq!(f.reply_text(b"27523\r"), b"27523");
        assert_eq!(f.reply_text(b"\nOK\r"), b"OK");
        assert_eq!(f.command_wire_bytes(2), 6);
        assert_eq!(f.reply_wire_bytes(5), 6);
        assert_eq!(f.encode_reply("OK"), b"OK\r");
    }

    #[test]
    fn usb_packets() {
        let f = Framing::Usb;
        let p = f.encode("PX").unwrap();
        assert_eq!(&p[..3], b"PX\0");
        assert_eq!(p.len(), USB_PACKET_BYTES);
        assert!(f.encode(&"X".repeat(64)).is_err());
        assert!(f.encode(&"X".repeat(63)).is_ok());
        let r = f.encode_reply("-15818");
        assert_eq!(f.reply_text(&r), b"-15818");
        assert_eq!(f.reply_terminator(), 0);
    }

    #[test]
    fn wire_time_of_a_px_poll() {
        // notes §6: PX 5-digit, 12 bytes at 9600 baud → 12.5 ms.
        assert_eq!(wire_time_ns(12, 9600), 12_500_000);
        assert_eq!(wire_time_ns(1, 0), 0);
    }

    #[test]
    fn device_numbers() {
        assert_eq!(device_number_of_name("4EX00"), Some(0));
        assert_eq!(device_number_of_name("4EX42"), Some(42));
        assert_eq!(device_number_of_name("4EXab"), None);
    }

    #[test]
    fn decoder_chunking_noise_and_addresses() {
        let mut d = DeviceFrameDecoder::new();
        let whole: &[u8] = b"junk@00VER\r\n\r@01PX\rno at\r@00X1000\r";
        // Every chunking yields the same frames.
        for chunk in [1usize, 2, 3, 7, whole.len()] {
            let frames: Vec<_> = whole.chunks(chunk).flat_map(|c| d.push(c)).collect();
            let got: Vec<_> = frames.iter().map(|f| (f.device, f.command.clone())).collect();
            assert_eq!(got, vec![(Some(0), "VER".to_string()), (Some(1), "PX".to_string()), (Some(0), "X1000".to_string())]);
        }
        assert_eq!(d.push(b"@00PX\r")[0].wire_bytes, 6);
    }
}
