//! The ground truth of the simulated controller, published without a lock for readers on a
//! real-time thread (the virtual probe, the simulated board's probe).
//!
//! The motion log ([`AxisTruth`]) lives inside the simulator, behind the mutex its owner (a
//! link, a PTY server) holds while it handles each command. A reader on the trigger thread must
//! never wait for that mutex, so after every command that changed the log the simulator copies
//! the recent part of it, the *move table*, into a [`PublishedTruth`]:
//!
//! - per axis, the motion pieces from [`HORIZON_NS`] before the command on (at most
//!   [`MAX_PIECES`], the newest kept), the counter offset in force at the start of that window
//!   and the later changes, and the stalls (stalls over before the window folded into a constant
//!   lag);
//! - two copies, each under a sequence counter (a double-buffered seqlock): the writer fills the
//!   copy readers are not directed to, then flips the index. A reader loads the index, reads the
//!   few words it needs with atomic loads and checks that the copy's counter did not move; it
//!   retries only if the writer went through two whole publications meanwhile, so a writer
//!   preempted mid-copy never holds a reader up. No lock, no allocation, no system call.
//!
//! Invariant: for any instant at or after the window start the table answers exactly what the
//! full log answers ([`AxisTruth::true_position`]); earlier instants are outside it
//! ([`TruthRead::OutsideWindow`]).
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::profile::Piece;
use super::truth::AxisTruth;

/// How far back (ns) from the last command the table answers exactly.
pub const HORIZON_NS: i64 = 10_000_000_000;
/// Motion pieces kept per axis (a move is 3 to 5 pieces).
pub const MAX_PIECES: usize = 256;
/// Counter offsets and stalls kept per axis (beyond it, the oldest are folded).
pub const MAX_MARKS: usize = 16;

const AXES: usize = 4;
const PIECE_WORDS: usize = 5;
// Per axis: header, then pieces, offsets (t, value), stalls (start, end, commanded at start).
const H_PIECES: usize = 0;
const H_OFFSET_BASE: usize = 1;
const H_OFFSETS: usize = 2;
const H_LAG_BASE: usize = 3;
const H_STALLS: usize = 4;
const H_WINDOW: usize = 5;
const HEADER: usize = 6;
const PIECES_AT: usize = HEADER;
const OFFSETS_AT: usize = PIECES_AT + PIECE_WORDS * MAX_PIECES;
const STALLS_AT: usize = OFFSETS_AT + 2 * MAX_MARKS;
const AXIS_WORDS: usize = STALLS_AT + 3 * MAX_MARKS;
const WORDS: usize = AXES * AXIS_WORDS;

/// A table in plain words, built by the writer before it is copied into the atomics.
type Table = [u64; WORDS];

fn f(x: f64) -> u64 {
    x.to_bits()
}

fn i(x: i64) -> u64 {
    x as u64
}

/// Encodes the recent part of `axes`' logs, the window starting `HORIZON_NS` before `t_now`.
fn encode(axes: &[&AxisTruth; AXES], t_now: i64, table: &mut Table) {
    let window = t_now.saturating_sub(HORIZON_NS);
    for (a, truth) in axes.iter().enumerate() {
        let w = &mut table[a * AXIS_WORDS..(a + 1) * AXIS_WORDS];
        w.fill(0);
        let pieces = &truth.pieces;
        let first = pieces.partition_point(|p| p.t0_ns <= window).saturating_sub(1).max(pieces.len().saturating_sub(MAX_PIECES));
        let kept = &pieces[first..];
        for (k, p) in kept.iter().enumerate() {
            let at = PIECES_AT + k * PIECE_WORDS;
            w[at..at + PIECE_WORDS].copy_from_slice(&[i(p.t0_ns), i(p.dur_ns), f(p.x0), f(p.v0), f(p.a)]);
        }
        w[H_PIECES] = kept.len() as u64;
        // The table answers from the start of its first piece (or the window, if later) on; the
        // marks it cannot hold move that start later still.
        let mut from = kept.first().map_or(window, |p| p.t0_ns.max(window));

        let later = truth.offsets.partition_point(|(t, _)| *t <= from);
        let start = later.max(truth.offsets.len().saturating_sub(MAX_MARKS));
        if start > later {
            from = truth.offsets[start - 1].0;
        }
        w[H_OFFSET_BASE] = f(if start == 0 { 0.0 } else { truth.offsets[start - 1].1 });
        for (k, (t, v)) in truth.offsets[start..].iter().enumerate() {
            w[OFFSETS_AT + 2 * k] = i(*t);
            w[OFFSETS_AT + 2 * k + 1] = f(*v);
        }
        w[H_OFFSETS] = (truth.offsets.len() - start) as u64;

        // A stall over before the window adds a constant lag (only one stall is ever in
        // progress, so every stall the table cannot hold is over: it is folded the same way).
        let (mut lag_base, mut live) = (0.0, Vec::new());
        for &(s, e) in &truth.stalls {
            if e < from {
                lag_base += truth.commanded(e) - truth.commanded(s);
            } else {
                live.push((s, e));
            }
        }
        let fold = live.len().saturating_sub(MAX_MARKS);
        for &(s, e) in &live[..fold] {
            lag_base += truth.commanded(e) - truth.commanded(s);
            from = from.max(e);
        }
        w[H_WINDOW] = i(from);
        w[H_LAG_BASE] = f(lag_base);
        for (k, (s, e)) in live[fold..].iter().enumerate() {
            let at = STALLS_AT + 3 * k;
            w[at..at + 3].copy_from_slice(&[i(*s), i(*e), f(truth.commanded(*s))]);
        }
        w[H_STALLS] = (live.len() - fold) as u64;
    }
}

/// One copy of the table under its sequence counter (odd while it is written).
struct Copy {
    seq: AtomicU64,
    words: Box<[AtomicU64]>,
}

impl Copy {
    fn new() -> Self {
        Self { seq: AtomicU64::new(0), words: (0..WORDS).map(|_| AtomicU64::new(0)).collect() }
    }

    fn word(&self, k: usize) -> u64 {
        self.words.get(k).map_or(0, |w| w.load(Ordering::Relaxed))
    }
}

/// What one read of the published table gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TruthRead {
    /// The true position (steps, counter frame at the instant).
    Steps(f64),
    /// The instant is older than the table's window (read the full log instead).
    OutsideWindow,
}

/// The published move table of one simulated controller (shared with the readers).
pub struct PublishedTruth {
    current: AtomicUsize,
    copies: [Copy; 2],
}

impl std::fmt::Debug for PublishedTruth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedTruth").field("current", &self.current.load(Ordering::Relaxed)).finish()
    }
}

impl PublishedTruth {
    fn new() -> Self {
        Self { current: AtomicUsize::new(0), copies: [Copy::new(), Copy::new()] }
    }

    /// Single writer (the [`TruthPublisher`], through `&mut`): fills the idle copy, then flips.
    fn write(&self, table: &Table) {
        let idle = 1 - self.current.load(Ordering::Relaxed);
        let copy = &self.copies[idle];
        let seq = copy.seq.load(Ordering::Relaxed);
        copy.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // the odd counter is visible before any word changes
        fence(Ordering::Release);
        for (w, v) in copy.words.iter().zip(table.iter()) {
            w.store(*v, Ordering::Relaxed);
        }
        copy.seq.store(seq.wrapping_add(2), Ordering::Release);
        self.current.store(idle, Ordering::Release);
    }

    /// The true position of axis `axis_index` (0..4: X, Y, Z, U) at `t_ns`. Lock-free and
    /// allocation-free.
    pub fn read(&self, axis_index: usize, t_ns: i64) -> TruthRead {
        loop {
            let copy = &self.copies[self.current.load(Ordering::Acquire) & 1];
            let s1 = copy.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                // being written: the index flips to the other copy when the writer is done
                std::hint::spin_loop();
                continue;
            }
            let value = evaluate(copy, axis_index.min(AXES - 1), t_ns);
            fence(Ordering::Acquire);
            if copy.seq.load(Ordering::Relaxed) == s1 {
                return value;
            }
        }
    }
}

fn word_f(copy: &Copy, k: usize) -> f64 {
    f64::from_bits(copy.word(k))
}

fn word_i(copy: &Copy, k: usize) -> i64 {
    copy.word(k) as i64
}

fn piece(copy: &Copy, base: usize, k: usize) -> Piece {
    let at = base + PIECES_AT + k * PIECE_WORDS;
    Piece {
        t0_ns: word_i(copy, at),
        dur_ns: word_i(copy, at + 1),
        x0: word_f(copy, at + 2),
        v0: word_f(copy, at + 3),
        a: word_f(copy, at + 4),
        phase: super::profile::Phase::Constant,
    }
}

/// The commanded position at `t` from the table's pieces (the piece holding `t`).
fn commanded(copy: &Copy, base: usize, n: usize, t: i64) -> f64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if word_i(copy, base + PIECES_AT + mid * PIECE_WORDS) <= t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    piece(copy, base, lo.saturating_sub(1)).pos_at(t)
}

/// The exact log's formula (module doc of `truth`) on the table; every index is bounded, so a
/// torn read (rejected by the caller) cannot panic.
fn evaluate(copy: &Copy, axis: usize, t: i64) -> TruthRead {
    let base = axis * AXIS_WORDS;
    let n = (copy.word(base + H_PIECES) as usize).min(MAX_PIECES);
    if n == 0 || t < word_i(copy, base + H_WINDOW) {
        return TruthRead::OutsideWindow;
    }
    let mut lag = word_f(copy, base + H_LAG_BASE);
    for k in 0..(copy.word(base + H_STALLS) as usize).min(MAX_MARKS) {
        let at = base + STALLS_AT + 3 * k;
        let (s, e) = (word_i(copy, at), word_i(copy, at + 1));
        if s <= t {
            lag += commanded(copy, base, n, t.min(e)) - word_f(copy, at + 2);
        }
    }
    let mut offset = word_f(copy, base + H_OFFSET_BASE);
    for k in 0..(copy.word(base + H_OFFSETS) as usize).min(MAX_MARKS) {
        let at = base + OFFSETS_AT + 2 * k;
        if word_i(copy, at) > t {
            break;
        }
        offset = word_f(copy, at + 1);
    }
    TruthRead::Steps(commanded(copy, base, n, t) - lag - offset)
}

/// The simulator's side of the publication: the only writer of its [`PublishedTruth`].
///
/// A clone (a cloned simulator) publishes into a table of its own.
pub struct TruthPublisher {
    shared: Arc<PublishedTruth>,
    table: Box<Table>,
    version: Option<u64>,
}

impl std::fmt::Debug for TruthPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TruthPublisher").field("version", &self.version).finish()
    }
}

impl Clone for TruthPublisher {
    fn clone(&self) -> Self {
        let shared = Arc::new(PublishedTruth::new());
        shared.write(&self.table);
        Self { shared, table: self.table.clone(), version: self.version }
    }
}

impl TruthPublisher {
    /// A publisher with an empty table (every read is outside the window until the first
    /// publication).
    pub fn new() -> Self {
        Self { shared: Arc::new(PublishedTruth::new()), table: Box::new([0; WORDS]), version: None }
    }

    /// The readers' side.
    pub fn shared(&self) -> Arc<PublishedTruth> {
        Arc::clone(&self.shared)
    }

    /// Publishes the logs when `version` differs from the last one published.
    pub fn publish_if_changed(&mut self, axes: [&AxisTruth; AXES], version: u64, t_now: i64) {
        if self.version == Some(version) {
            return;
        }
        encode(&axes, t_now, &mut self.table);
        self.shared.write(&self.table);
        self.version = Some(version);
    }
}

impl Default for TruthPublisher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::FOREVER_NS;
    use super::*;
    use proptest::prelude::*;

    fn moving(t0: i64, x0: f64, v: f64, dur: i64) -> Piece {
        Piece { t0_ns: t0, dur_ns: dur, x0, v0: v, a: 0.0, phase: super::super::profile::Phase::Constant }
    }

    fn read(p: &PublishedTruth, t: i64) -> f64 {
        match p.read(0, t) {
            TruthRead::Steps(x) => x,
            TruthRead::OutsideWindow => f64::NAN,
        }
    }

    proptest! {
        /// Whatever the log (moves, counter offsets, stalls), the table answers exactly what
        /// the log answers inside its window.
        #[test]
        fn table_matches_the_log_inside_the_window(
            moves in proptest::collection::vec((1i64..3_000_000_000, -5000.0f64..5000.0, 1i64..2_000_000_000), 1..120),
            offsets in proptest::collection::vec((0i64..200_000_000_000, -100.0f64..100.0), 0..30),
            stalls in proptest::collection::vec((0.0f64..1.0, 0i64..5_000_000_000), 0..30),
            probes in proptest::collection::vec(0.0f64..1.0, 20),
        ) {
            let mut truth = AxisTruth::new(0);
            let mut t = 0;
            for (gap, v, dur) in &moves {
                t += gap;
                let x = truth.commanded(t);
                truth.install(t, vec![moving(t, x, *v, *dur)]);
            }
            let mut offsets = offsets.clone();
            offsets.sort_by_key(|o| o.0);
            for (to, v) in offsets {
                truth.set_offset(to, v);
            }
            // stalls start when the simulator sees them, never after its last command
            let mut stalls: Vec<(i64, i64)> = stalls.iter().map(|(q, d)| ((q * t as f64) as i64, *d)).collect();
            stalls.sort_by_key(|s| s.0);
            for (s, d) in stalls {
                if !truth.is_stalled(s) && truth.stalls.last().map_or(true, |l| l.1 <= s) {
                    truth.stall(s);
                    truth.unstall(s + d);
                }
            }
            let t_now = t + 1;
            let mut publisher = TruthPublisher::new();
            let rest = AxisTruth::new(0);
            publisher.publish_if_changed([&truth, &rest, &rest, &rest], 1, t_now);
            let shared = publisher.shared();
            let from = word_i(&shared.copies[shared.current.load(Ordering::Relaxed)], H_WINDOW);
            if truth.offsets.len() <= MAX_MARKS && truth.stalls.len() <= MAX_MARKS {
                // the present is always inside the window
                prop_assert!(from <= t_now, "window starts at {from}, after the last command {t_now}");
            }
            for q in probes {
                let end = (t_now + 3_000_000_000).max(from + 1_000_000_000);
                let at = from + (q * (end - from) as f64) as i64;
                let (exact, table) = (truth.true_position(at), read(&shared, at));
                prop_assert!((exact - table).abs() <= 1e-6 * exact.abs().max(1.0), "t={at}: log {exact}, table {table}");
            }
        }
    }

    #[test]
    fn reads_outside_the_window_say_so_and_clones_publish_apart() {
        let mut truth = AxisTruth::new(0);
        truth.install(20_000_000_000, vec![moving(20_000_000_000, 0.0, 1000.0, FOREVER_NS)]);
        let mut publisher = TruthPublisher::new();
        assert_eq!(publisher.shared().read(0, 0), TruthRead::OutsideWindow);
        let rest = AxisTruth::new(0);
        publisher.publish_if_changed([&truth, &rest, &rest, &rest], 7, 21_000_000_000);
        let shared = publisher.shared();
        assert_eq!(shared.read(0, 1_000_000_000), TruthRead::OutsideWindow);
        assert_eq!(shared.read(0, 21_000_000_000), TruthRead::Steps(1000.0));
        assert_eq!(shared.read(1, 21_000_000_000), TruthRead::Steps(0.0));
        let mut clone = publisher.clone();
        let moved = AxisTruth::new(0);
        clone.publish_if_changed([&moved, &rest, &rest, &rest], 8, 21_000_000_000);
        assert_eq!(clone.shared().read(0, 21_000_000_000), TruthRead::Steps(0.0));
        assert_eq!(shared.read(0, 21_000_000_000), TruthRead::Steps(1000.0));
    }

    #[test]
    fn a_reader_never_sees_a_torn_table() {
        // Two tables that differ everywhere; a reader must always get one of the two answers.
        let mut a = AxisTruth::new(0);
        a.install(1, vec![moving(1, 100.0, 0.0, FOREVER_NS)]);
        let mut b = AxisTruth::new(0);
        b.install(1, vec![moving(1, -7.0, 0.0, FOREVER_NS)]);
        let mut publisher = TruthPublisher::new();
        publisher.publish_if_changed([&a, &a, &a, &a], 0, 2);
        let shared = publisher.shared();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let x = read(&shared, 5);
                    assert!(x == 100.0 || x == -7.0, "torn read {x}");
                    n += 1;
                }
                n
            })
        };
        for v in 1..20_000u64 {
            let t = if v % 2 == 0 { &a } else { &b };
            publisher.publish_if_changed([t, t, t, t], v, 2);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }
}
