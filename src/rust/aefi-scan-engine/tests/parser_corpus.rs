//! The committed parser corpora (tests/corpus/*.txt): every case gets the outcome written next to
//! it, and no case panics.
use std::path::PathBuf;

use aefi_scan_engine::arcus::protocol::{parse_reply, Command as ArcusCommand};
use aefi_scan_engine::board::protocol::{parse_codes, CommandFramer};
use aefi_scan_engine::transport::LinkUrl;

/// `(expect_ok, bytes, line number)` of every case of `name`.
fn corpus(name: &str) -> Vec<(bool, Vec<u8>, usize)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<_> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let (tag, input) = l.split_once('\t').unwrap_or_else(|| panic!("{name}:{}: no TAB after the tag", i + 1));
            let ok = match tag {
                "ok" => true,
                "err" => false,
                other => panic!("{name}:{}: tag {other:?} is neither ok nor err", i + 1),
            };
            (ok, unescape(input), i + 1)
        })
        .collect();
    assert!(cases.iter().any(|c| c.0) && cases.iter().any(|c| !c.0), "{name}: needs ok and err cases");
    cases
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("\\x needs two hex digits");
                    out.push(u8::from_str_radix(hex, 16).expect("\\x needs two hex digits"));
                    i += 4;
                    continue;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn check(name: &str, parse: impl Fn(&[u8]) -> Result<String, String>) {
    for (want_ok, input, line) in corpus(name) {
        let got = parse(&input);
        assert_eq!(got.is_ok(), want_ok, "{name}:{line}: {:?} gave {got:?}", String::from_utf8_lossy(&input));
        if let Err(message) = got {
            assert!(!message.is_empty(), "{name}:{line}: an error without a message");
        }
    }
}

#[test]
fn arcus_replies() {
    check("arcus_replies.txt", |b| parse_reply(b).map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
}

#[test]
fn arcus_commands() {
    check("arcus_commands.txt", |b| {
        let text = std::str::from_utf8(b).map_err(|e| e.to_string())?;
        ArcusCommand::parse(text).map(|c| format!("{c:?}")).map_err(|e| e.to_string())
    });
}

#[test]
fn board_lines() {
    check("board_lines.txt", |b| {
        let text = std::str::from_utf8(b).map_err(|e| e.to_string())?;
        parse_codes(text).map(|c| format!("{c:?}")).map_err(|e| e.to_string())
    });
}

#[test]
fn board_command_streams() {
    check("board_commands.txt", |b| {
        let mut framer = CommandFramer::new();
        framer.push(b);
        let mut commands = Vec::new();
        while let Some(next) = framer.next_command() {
            commands.push(next.map_err(|e| e.to_string())?.0);
        }
        // bytes left without a '*' are a command cut short
        if framer.pending_len() > 0 {
            return Err(format!("{} bytes without a terminating '*'", framer.pending_len()));
        }
        Ok(format!("{commands:?}"))
    });
}

#[test]
fn link_urls() {
    check("link_urls.txt", |b| {
        let text = std::str::from_utf8(b).map_err(|e| e.to_string())?;
        LinkUrl::parse(text).map(|u| format!("{u:?}")).map_err(|e| e.to_string())
    });
}
