//! Link URLs (docs/architecture.md "Link URLs"): one syntax for Rust, Python, the CLI and the
//! PyMoDAQ settings.
//!
//! | URL | link |
//! |---|---|
//! | `sim://NAME[?baud=9600&timing=wire\|none&device=00&…]` | in-process simulated bench |
//! | `serial:///dev/ttyUSB0[?baud=9600&device=00]` | RS-485 / USB-serial, exclusive |
//! | `tcp://HOST:PORT[?device=00&baud=9600]` | RS-485 framing over TCP |
//! | `usb://4ex00` | vendor bulk protocol over libusb |
//! | `performax://DEVICE[?dll=PATH]` | the vendor's PerformaxCom.dll (DEVICE: index `0` or serial `4ex00`) |
//!
//! Unknown query keys are refused, except on `sim://` where they are simulator options (limits,
//! home switches…) handed to the simulator, which validates them.
use super::TransportError;

/// Default baud of the PMX-4EX-SA (`DB=1`).
pub const DEFAULT_BAUD: u32 = 9600;

/// How an in-process simulator paces its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimTiming {
    /// Each reply arrives when the real wire would deliver it (default).
    Wire,
    /// Replies are immediate (fast unit tests).
    None,
}

/// A parsed link URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkUrl {
    /// `sim://NAME`.
    Sim {
        /// Bench name (process-global registry key).
        name: String,
        /// Simulated baud.
        baud: u32,
        /// Reply pacing.
        timing: SimTiming,
        /// Device number the link addresses (and the simulator's on creation).
        device: u8,
        /// Further simulator options, `key=value`, in order.
        options: Vec<(String, String)>,
    },
    /// `serial://PATH`.
    Serial {
        /// Device path.
        path: String,
        /// Baud rate.
        baud: u32,
        /// Device number.
        device: u8,
    },
    /// `tcp://HOST:PORT`.
    Tcp {
        /// `HOST:PORT`.
        addr: String,
        /// Device number.
        device: u8,
        /// Baud of the serial line behind the TCP adapter, if known.
        baud: Option<u32>,
    },
    /// `usb://SERIAL` (the USB serial string is the device name in lower case, `4ex00`).
    Usb {
        /// USB serial-number string to match (case-insensitive); empty = first device.
        serial: String,
    },
    /// `performax://DEVICE[?dll=PATH]`: the vendor's `PerformaxCom.dll`.
    Performax {
        /// Which device of the DLL's list.
        device: PerformaxDevice,
        /// The DLL file, or the folder holding it (None: the configured folder, then the OS search).
        dll: Option<String>,
    },
}

/// A device of `PerformaxCom.dll`'s list: its index, or its USB serial string (`4ex00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerformaxDevice {
    /// Position in the DLL's device list (0 = the first).
    Index(u32),
    /// The USB serial string, i.e. the device name in lower case (matched case-insensitively).
    Serial(String),
}

impl std::fmt::Display for PerformaxDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PerformaxDevice::Index(i) => write!(f, "{i}"),
            PerformaxDevice::Serial(s) => f.write_str(s),
        }
    }
}

/// `%XX` escapes decoded (a DLL path may need `%26` for `&` or `%3F` for `?`); anything else as is.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // two hex digits, checked here: from_str_radix alone would take "%+1" for byte 1
        if bytes[i] == b'%' && i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit() {
            if let Some(b) = v.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bad(url: &str, reason: impl Into<String>) -> TransportError {
    TransportError::BadUrl { url: url.to_string(), reason: reason.into() }
}

fn parse_baud(url: &str, v: &str) -> Result<u32, TransportError> {
    v.parse::<u32>()
        .ok()
        .filter(|b| (300..=10_000_000).contains(b))
        .ok_or_else(|| bad(url, format!("baud must be an integer in 300..=10000000 (got {v:?})")))
}

fn parse_device(url: &str, v: &str) -> Result<u8, TransportError> {
    v.parse::<u8>()
        .ok()
        .filter(|d| *d <= 99)
        .ok_or_else(|| bad(url, format!("device must be 0..=99, the last two digits of the device name (got {v:?})")))
}

impl LinkUrl {
    /// Parses a link URL.
    ///
    /// # Errors
    /// [`TransportError::BadUrl`] naming what is wrong and what is allowed.
    ///
    /// ```
    /// use aefi_scan_engine::transport::{LinkUrl, SimTiming};
    /// let u = LinkUrl::parse("sim://bench?timing=none").unwrap();
    /// assert!(matches!(u, LinkUrl::Sim { timing: SimTiming::None, baud: 9600, device: 0, .. }));
    /// assert!(LinkUrl::parse("ftp://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<LinkUrl, TransportError> {
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| bad(url, "expected SCHEME://…, SCHEME one of sim, serial, tcp, usb, performax"))?;
        let (body, query) = match rest.split_once('?') {
            Some((b, q)) => (b, q),
            None => (rest, ""),
        };
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| bad(url, format!("query item {part:?} is not key=value")))?;
            pairs.push((k.to_string(), v.to_string()));
        }
        let mut baud = None;
        let mut device = 0u8;
        let mut timing = SimTiming::Wire;
        let mut extra = Vec::new();
        let mut dll = None;
        for (k, v) in pairs {
            match k.as_str() {
                "dll" if scheme == "performax" => dll = Some(percent_decode(&v)),
                "baud" => baud = Some(parse_baud(url, &v)?),
                "device" => device = parse_device(url, &v)?,
                "timing" if scheme == "sim" => {
                    timing = match v.as_str() {
                        "wire" => SimTiming::Wire,
                        "none" => SimTiming::None,
                        _ => return Err(bad(url, format!("timing must be wire or none (got {v:?})"))),
                    }
                }
                _ if scheme == "sim" => extra.push((k, v)),
                _ if scheme == "performax" => return Err(bad(url, format!("unknown option {k:?} (allowed: dll)"))),
                _ => return Err(bad(url, format!("unknown option {k:?} (allowed: baud, device)"))),
            }
        }
        match scheme {
            "sim" => {
                if body.is_empty() || body.contains('/') {
                    return Err(bad(url, "sim://NAME needs a bench name without '/'"));
                }
                Ok(LinkUrl::Sim { name: body.to_string(), baud: baud.unwrap_or(DEFAULT_BAUD), timing, device, options: extra })
            }
            "serial" => {
                if body.is_empty() {
                    return Err(bad(url, "serial:// needs a device path, e.g. serial:///dev/ttyUSB0"));
                }
                Ok(LinkUrl::Serial { path: body.to_string(), baud: baud.unwrap_or(DEFAULT_BAUD), device })
            }
            "tcp" => {
                let (host, port) = body.rsplit_once(':').ok_or_else(|| bad(url, "tcp://HOST:PORT needs a port"))?;
                if host.is_empty() || port.parse::<u16>().is_err() {
                    return Err(bad(url, "tcp://HOST:PORT needs a host and a port 0..=65535"));
                }
                Ok(LinkUrl::Tcp { addr: body.to_string(), device, baud })
            }
            "usb" => {
                if baud.is_some() || device != 0 {
                    return Err(bad(url, "usb:// takes no baud or device (USB is unaddressed)"));
                }
                Ok(LinkUrl::Usb { serial: body.to_string() })
            }
            "performax" => {
                if baud.is_some() || device != 0 {
                    return Err(bad(url, "performax:// takes no baud or device option (USB is unaddressed)"));
                }
                if dll.as_deref() == Some("") {
                    return Err(bad(url, "dll= needs the path of PerformaxCom.dll or of its folder"));
                }
                let device = if body.is_empty() {
                    PerformaxDevice::Index(0)
                } else if body.bytes().all(|b| b.is_ascii_digit()) {
                    PerformaxDevice::Index(body.parse().map_err(|_| bad(url, "device index out of range"))?)
                } else if body.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    PerformaxDevice::Serial(body.to_ascii_lowercase())
                } else {
                    return Err(bad(url, "performax://DEVICE: DEVICE is an index (0, 1, …) or a USB serial string such as 4ex00"));
                };
                Ok(LinkUrl::Performax { device, dll })
            }
            other => Err(bad(url, format!("unknown scheme {other:?} (allowed: sim, serial, tcp, usb, performax)"))),
        }
    }

    /// Device number for RS-485 framing (None for USB).
    pub fn device(&self) -> Option<u8> {
        match self {
            LinkUrl::Sim { device, .. } | LinkUrl::Serial { device, .. } | LinkUrl::Tcp { device, .. } => Some(*device),
            LinkUrl::Usb { .. } | LinkUrl::Performax { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every outcome of `parse` is a URL or a `BadUrl` quoting the whole input with a reason.
    fn parses_or_says_why(url: &str) -> Result<(), TestCaseError> {
        match LinkUrl::parse(url) {
            Ok(_) => Ok(()),
            Err(TransportError::BadUrl { url: quoted, reason }) => {
                prop_assert_eq!(quoted, url);
                prop_assert!(!reason.is_empty());
                Ok(())
            }
            Err(other) => Err(TestCaseError::fail(format!("{url:?}: not a BadUrl: {other:?}"))),
        }
    }

    /// `%XX` for the bytes the query syntax gives a meaning to, and for `%` itself.
    fn percent_encode(v: &str) -> String {
        v.chars()
            .map(|c| match c {
                '%' | '&' | '?' | '=' | '#' => format!("%{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn parser_never_panics(url in "\\PC{0,60}") {
            parses_or_says_why(&url)?;
        }

        #[test]
        fn parser_never_panics_on_near_misses(
            url in "(sim|serial|tcp|usb|performax|ftp|)(://|:/|)[a-z0-9:/.%-]{0,16}(\\?([a-z_]{0,6}(=[a-zA-Z0-9%.:=-]{0,8})?&?){0,4})?"
        ) {
            parses_or_says_why(&url)?;
        }

        #[test]
        fn sim_urls_round_trip(
            name in "[a-z][a-z0-9_-]{0,12}", baud in 300u32..=10_000_000, device in 0u8..=99, wire in any::<bool>(),
            options in proptest::collection::vec(("[a-z][a-z_]{0,8}", "[A-Za-z0-9:.=-]{0,10}"), 0..4)
        ) {
            let options: Vec<(String, String)> =
                options.into_iter().filter(|(k, _)| !["baud", "device", "timing"].contains(&k.as_str())).collect();
            let timing = if wire { "wire" } else { "none" };
            let mut url = format!("sim://{name}?baud={baud}&device={device}&timing={timing}");
            for (k, v) in &options {
                url.push_str(&format!("&{k}={v}"));
            }
            let timing = if wire { SimTiming::Wire } else { SimTiming::None };
            prop_assert_eq!(LinkUrl::parse(&url).ok(), Some(LinkUrl::Sim { name, baud, timing, device, options }));
        }

        #[test]
        fn tcp_urls_round_trip(host in "[a-z0-9][a-z0-9.-]{0,20}", port in any::<u16>(), device in 0u8..=99) {
            let url = format!("tcp://{host}:{port}?device={device}");
            prop_assert_eq!(LinkUrl::parse(&url).ok(), Some(LinkUrl::Tcp { addr: format!("{host}:{port}"), device, baud: None }));
        }

        #[test]
        fn out_of_range_baud_and_device_are_refused(baud in 10_000_001u64..u64::MAX, device in 100u32..100_000) {
            for url in [
                format!("serial:///dev/x?baud={baud}"),
                format!("serial:///dev/x?baud={}", baud % 300),
                format!("tcp://h:1?device={device}"),
            ] {
                prop_assert!(LinkUrl::parse(&url).is_err(), "{} was accepted", url);
            }
        }

        #[test]
        fn dll_paths_round_trip_through_percent_escapes(path in "\\PC{1,40}") {
            let url = format!("performax://0?dll={}", percent_encode(&path));
            prop_assert_eq!(LinkUrl::parse(&url).ok(), Some(LinkUrl::Performax { device: PerformaxDevice::Index(0), dll: Some(path) }));
        }

        #[test]
        fn text_without_hex_escapes_is_decoded_as_is(v in "[%+ 0-9a-fA-Fg-z-]{0,12}") {
            let escapes = v.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
            prop_assume!(!escapes);
            prop_assert_eq!(percent_decode(&v), v);
        }
    }

    #[test]
    fn url_table() {
        assert_eq!(
            LinkUrl::parse("sim://bench?baud=115200&timing=wire&device=3&limit=X=-10:10").unwrap(),
            LinkUrl::Sim {
                name: "bench".into(),
                baud: 115200,
                timing: SimTiming::Wire,
                device: 3,
                options: vec![("limit".into(), "X=-10:10".into())]
            }
        );
        assert_eq!(
            LinkUrl::parse("serial:///dev/ttyUSB0?baud=115200").unwrap(),
            LinkUrl::Serial { path: "/dev/ttyUSB0".into(), baud: 115200, device: 0 }
        );
        assert_eq!(
            LinkUrl::parse("tcp://127.0.0.1:4000?device=1").unwrap(),
            LinkUrl::Tcp { addr: "127.0.0.1:4000".into(), device: 1, baud: None }
        );
        assert_eq!(LinkUrl::parse("usb://4ex00").unwrap(), LinkUrl::Usb { serial: "4ex00".into() });
        assert_eq!(LinkUrl::parse("performax://0").unwrap(), LinkUrl::Performax { device: PerformaxDevice::Index(0), dll: None });
        assert_eq!(
            LinkUrl::parse("performax://4EX01?dll=C:\\AEFI\\DLL64").unwrap(),
            LinkUrl::Performax { device: PerformaxDevice::Serial("4ex01".into()), dll: Some("C:\\AEFI\\DLL64".into()) }
        );
        assert_eq!(
            LinkUrl::parse("performax://?dll=/tmp/a%26b/libPerformaxCom.so").unwrap(),
            LinkUrl::Performax { device: PerformaxDevice::Index(0), dll: Some("/tmp/a&b/libPerformaxCom.so".into()) }
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, needle) in [
            ("bench", "SCHEME://"),
            ("ftp://x", "unknown scheme"),
            ("sim://", "bench name"),
            ("sim://b?timing=fast", "timing must be"),
            ("sim://b?baud=abc", "baud must be"),
            ("serial://", "device path"),
            ("serial:///dev/x?device=100", "device must be"),
            ("serial:///dev/x?parity=n", "unknown option"),
            ("tcp://host", "needs a port"),
            ("tcp://:80", "host and a port"),
            ("usb://4ex00?device=2", "unaddressed"),
            ("performax://0?baud=9600", "unaddressed"),
            ("performax://0?dll=", "dll= needs"),
            ("performax://0?read_ms=5", "allowed: dll"),
            ("performax://4ex-00", "index (0, 1, …) or a USB serial"),
            ("sim://b?novalue", "key=value"),
        ] {
            let e = LinkUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }
}
