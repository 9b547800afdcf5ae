//! The fixed-size sample record and the wait-free ring that carries it to the consumer.
//!
//! One [`Record`] per detector sample (columns in docs/architecture.md "Records"). The ring is
//! `rtrb`'s SPSC ring: the real-time thread owns the [`RecordWriter`], the consumer (Python's
//! `drain`) the `rtrb::Consumer`. A full ring never blocks the producer: the record is dropped and
//! counted, and the sequence number skips, so a drop is never silent. Invariant: `seq` is assigned
//! to every sample, pushed or dropped, so `pushed + dropped == next seq`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Record flags (the `flags` column).
pub mod flags {
    /// Position estimated by the model (every record's: a sample never coincides with a poll;
    /// bit 1 is not used).
    pub const ESTIMATED: u32 = 2;
    /// Trigger deadline(s) missed just before this sample.
    pub const MISSED_DEADLINE: u32 = 4;
    /// First sample of a line.
    pub const LINE_FIRST: u32 = 8;
    /// Last sample of a line.
    pub const LINE_LAST: u32 = 16;
    /// Outside the constant-speed span.
    pub const OUTSIDE_CRUISE: u32 = 32;
    /// Extrapolated past the last poll.
    pub const EXTRAPOLATED: u32 = 64;
    /// Detector fault: channels are NaN.
    pub const DETECTOR_FAULT: u32 = 128;
    /// Taken on a baseline line of a differential scan (the excitation muted).
    pub const BASELINE: u32 = 256;
}

/// Channels per record (X/Y/Z × in-phase/quadrature).
pub const N_CHANNELS: usize = 6;

/// One sample: when, where, what. Plain data, 96 bytes, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Record {
    /// Sequence number over the whole scan (gaps = dropped records).
    pub seq: u64,
    /// Sample instant (monotonic ns).
    pub t_ns: i64,
    /// Fast-axis position (steps).
    pub fast_steps: f64,
    /// Slow-axis position (steps).
    pub slow_steps: f64,
    /// Error bound of the position estimate (steps).
    pub pos_err_steps: f64,
    /// The six channels (V).
    pub channels: [f64; N_CHANNELS],
    /// Line index.
    pub line: u32,
    /// Bit set of [`flags`].
    pub flags: u32,
}

/// Counters shared between the writer and whoever reports progress.
#[derive(Debug, Default)]
pub struct RingCounters {
    /// Records pushed into the ring.
    pub pushed: AtomicU64,
    /// Records dropped because the ring was full.
    pub dropped: AtomicU64,
}

/// The producer side of the record ring: assigns `seq`, pushes, counts drops.
#[derive(Debug)]
pub struct RecordWriter {
    producer: rtrb::Producer<Record>,
    counters: Arc<RingCounters>,
    next_seq: u64,
    prefaulted_bytes: usize,
}

/// Creates a ring of `capacity` records: the writer and the consumer. Every slot is faulted in
/// here, on the caller's thread ([`RecordWriter::prefaulted_bytes`]), so the real-time producer
/// never takes a page fault on its first pass through the ring.
///
/// ```
/// use aefi_scan_engine::engine::record::{ring, Record};
/// let (mut w, mut c, counters) = ring(2);
/// for _ in 0..3 { w.push(Record::default()); }
/// assert_eq!(counters.dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
/// assert_eq!(c.pop().unwrap().seq, 0);
/// ```
pub fn ring(capacity: usize) -> (RecordWriter, rtrb::Consumer<Record>, Arc<RingCounters>) {
    let (mut producer, consumer) = rtrb::RingBuffer::new(capacity);
    let prefaulted_bytes = prefault_free_slots(&mut producer);
    let counters = Arc::new(RingCounters::default());
    (RecordWriter { producer, counters: Arc::clone(&counters), next_seq: 0, prefaulted_bytes }, consumer, counters)
}

/// Writes zeros into every free slot without publishing any (the chunk is never committed).
fn prefault_free_slots(producer: &mut rtrb::Producer<Record>) -> usize {
    let n = producer.slots();
    let Ok(mut chunk) = producer.write_chunk_uninit(n) else { return 0 };
    let (a, b) = chunk.as_mut_slices();
    let mut bytes = 0;
    for part in [a, b] {
        let len = std::mem::size_of_val(part);
        // SAFETY: the chunk's slots are uninitialised memory the producer owns and nobody reads
        // until a commit, which never comes: dropping the chunk publishes nothing.
        bytes += unsafe { super::rt::prefault_bytes(part.as_mut_ptr().cast::<u8>(), len) };
    }
    bytes
}

impl RecordWriter {
    /// Pushes `rec` with the next sequence number; returns false (and counts it) when full.
    /// Wait-free: never blocks, never allocates.
    pub fn push(&mut self, mut rec: Record) -> bool {
        rec.seq = self.next_seq;
        self.next_seq += 1;
        match self.producer.push(rec) {
            Ok(()) => {
                self.counters.pushed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(rtrb::PushError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Samples produced so far (pushed + dropped).
    pub fn produced(&self) -> u64 {
        self.next_seq
    }

    /// Bytes of the ring faulted in when it was created.
    pub fn prefaulted_bytes(&self) -> usize {
        self.prefaulted_bytes
    }
}

/// Records as columns (what `drain` hands to numpy).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Columns {
    /// `seq` column.
    pub seq: Vec<u64>,
    /// `t_ns` column.
    pub t_ns: Vec<i64>,
    /// `line` column.
    pub line: Vec<u32>,
    /// `fast_steps` column.
    pub fast_steps: Vec<f64>,
    /// `slow_steps` column.
    pub slow_steps: Vec<f64>,
    /// `pos_err_steps` column.
    pub pos_err_steps: Vec<f64>,
    /// `flags` column.
    pub flags: Vec<u32>,
    /// `channels`, row-major (N × 6).
    pub channels: Vec<f64>,
}

impl Columns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    fn with_capacity(n: usize) -> Self {
        Self {
            seq: Vec::with_capacity(n),
            t_ns: Vec::with_capacity(n),
            line: Vec::with_capacity(n),
            fast_steps: Vec::with_capacity(n),
            slow_steps: Vec::with_capacity(n),
            pos_err_steps: Vec::with_capacity(n),
            flags: Vec::with_capacity(n),
            channels: Vec::with_capacity(n * N_CHANNELS),
        }
    }

    fn extend(&mut self, recs: &[Record]) {
        // Column by column in cache-sized blocks: each block of records is read while it is
        // still in cache, and each column is written sequentially.
        for block in recs.chunks(4096) {
            self.seq.extend(block.iter().map(|r| r.seq));
            self.t_ns.extend(block.iter().map(|r| r.t_ns));
            self.line.extend(block.iter().map(|r| r.line));
            self.fast_steps.extend(block.iter().map(|r| r.fast_steps));
            self.slow_steps.extend(block.iter().map(|r| r.slow_steps));
            self.pos_err_steps.extend(block.iter().map(|r| r.pos_err_steps));
            self.flags.extend(block.iter().map(|r| r.flags));
            for r in block {
                self.channels.extend_from_slice(&r.channels);
            }
        }
    }
}

/// Moves up to `max` records (all available when None) out of the ring into columns.
pub fn drain_columns(consumer: &mut rtrb::Consumer<Record>, max: Option<usize>) -> Columns {
    let n = consumer.slots().min(max.unwrap_or(usize::MAX));
    let mut cols = Columns::with_capacity(n);
    if n == 0 {
        return cols;
    }
    if let Ok(chunk) = consumer.read_chunk(n) {
        let (a, b) = chunk.as_slices();
        cols.extend(a);
        cols.extend(b);
        chunk.commit_all();
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_ring_is_faulted_in_and_stays_empty() {
        let (w, mut c, counters) = ring(1000);
        assert_eq!(w.prefaulted_bytes(), 1000 * 96);
        assert_eq!(c.slots(), 0);
        assert!(c.pop().is_err());
        assert_eq!(counters.pushed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn record_layout_is_fixed() {
        assert_eq!(std::mem::size_of::<Record>(), 96);
    }

    #[test]
    fn stalled_consumer_drops_exactly_and_seq_shows_the_gap() {
        let (mut w, mut c, counters) = ring(1024);
        for i in 0..5000 {
            w.push(Record { t_ns: i, ..Record::default() });
        }
        assert_eq!(counters.pushed.load(Ordering::Relaxed), 1024);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 5000 - 1024);
        let cols = drain_columns(&mut c, None);
        assert_eq!(cols.len(), 1024);
        assert_eq!(cols.seq, (0..1024).collect::<Vec<u64>>());
        // the consumer caught up: pushes succeed again, seq continues after the gap
        assert!(w.push(Record::default()));
        assert_eq!(drain_columns(&mut c, None).seq, vec![5000]);
    }

    #[test]
    fn drain_in_chunks_across_the_wrap() {
        let (mut w, mut c, _) = ring(1024);
        for _ in 0..1000 {
            w.push(Record::default());
        }
        assert_eq!(drain_columns(&mut c, Some(900)).len(), 900);
        for k in 0..500 {
            w.push(Record { channels: [k as f64; 6], ..Record::default() });
        }
        let cols = drain_columns(&mut c, None);
        assert_eq!(cols.len(), 600);
        assert_eq!(cols.seq.first(), Some(&900));
        assert_eq!(cols.channels.len(), 600 * 6);
        assert_eq!(cols.channels[599 * 6], 499.0);
    }
}
