//! Timing model of the board: how long a command takes and where the averaging window sits.
//!
//! The simulator answers with this timing and the driver uses the same model to place the
//! averaging window of a reply between its send and receive stamps, so the model lives in one
//! place.
//!
//! A command goes `host → board` as ASCII at 10 bits/byte (8N1), the MCU spends a fixed time
//! `pre` before it starts averaging, `n` conversions of `per_sample` each, a fixed time `post`
//! (formatting the line), and the data line goes back on the wire. The acknowledgement line is
//! sent as soon as the command is parsed, while the MCU averages. So for `m<n>*`:
//!
//! ```text
//! T(n) = wire(cmd) + pre + n·per_sample + post + wire(data line)
//! ```
//!
//! **The fit** (`notes/aefi-legacy.md` §1, the legacy benchmark at 1.5 Mbaud): 73 Hz at n = 10 and
//! 43 Hz at n = 50. Two rates, two unknowns: `per_sample = (1/43 − 1/73)/40 = 238.9 µs` (≈ 4.19
//! kHz of conversions) and `pre + post = 1/73 − 10·per_sample − wire = 10.82 ms` with a nominal 74
//! bytes on the wire (4-byte command, 70-byte data line: 7.3 chars per code). The model then
//! gives 11.5 ms (86.6 Hz) at n = 1 and 41.7 ms (24.0 Hz) at n = 127. The legacy note "~16 ms per
//! command, 62 commands/s" is not a third point of this line (it would be n ≈ 21); it matches
//! the 16 ms default latency timer of a USB-serial adapter, which the two-rate fit already
//! contains on average. **Assumptions**: how the fixed time splits into `pre` and `post` is
//! unknown; we split it in half, which makes the midpoint of the host's send/receive stamps
//! the middle of the averaging window. Register writes (`a`, `d`) cost `pre + post` too. The
//! per-conversion time is the one of the bench's ADC settings; OSR changes are not modelled.
use super::protocol::Command;

/// Bits on the wire per byte (8N1).
pub const BITS_PER_BYTE: f64 = 10.0;
/// The board's serial rate (baud).
pub const BOARD_BAUD: u32 = 1_500_000;
/// Nominal bytes of a measurement exchange used in the fit (command + data line).
pub const FIT_NOMINAL_BYTES: usize = 74;

/// The timing of one board.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardTiming {
    /// Serial rate (baud).
    pub baud: u32,
    /// MCU time from the end of a command to the start of averaging (µs).
    pub pre_us: f64,
    /// MCU time from the end of averaging to the first byte of the data line (µs).
    pub post_us: f64,
    /// One averaged conversion (µs).
    pub per_sample_us: f64,
}

impl Default for BoardTiming {
    fn default() -> Self {
        Self::legacy_fit()
    }
}

impl BoardTiming {
    /// The model fitted to two measured rates `(n, hz)` at `baud` (see the module docs).
    pub fn fit(baud: u32, (n1, hz1): (u32, f64), (n2, hz2): (u32, f64)) -> Self {
        let per_sample_s = (1.0 / hz2 - 1.0 / hz1) / f64::from(n2 - n1);
        let wire_s = FIT_NOMINAL_BYTES as f64 * BITS_PER_BYTE / f64::from(baud);
        let fixed_s = 1.0 / hz1 - f64::from(n1) * per_sample_s - wire_s;
        Self { baud, pre_us: fixed_s * 0.5e6, post_us: fixed_s * 0.5e6, per_sample_us: per_sample_s * 1e6 }
    }

    /// The legacy bench: 73 Hz at n = 10 and 43 Hz at n = 50, 1.5 Mbaud.
    ///
    /// ```
    /// use aefi_scan_engine::board::timing::BoardTiming;
    /// let t = BoardTiming::legacy_fit();
    /// assert!((t.per_sample_us - 238.9).abs() < 0.1);
    /// assert!((t.pre_us + t.post_us - 10_817.0).abs() < 5.0);
    /// ```
    pub fn legacy_fit() -> Self {
        Self::fit(BOARD_BAUD, (10, 73.0), (50, 43.0))
    }

    /// Nanoseconds that `bytes` bytes take on the wire.
    pub fn wire_ns(&self, bytes: usize) -> i64 {
        (bytes as f64 * BITS_PER_BYTE * 1e9 / f64::from(self.baud.max(1))).round() as i64
    }

    /// Duration of the averaging window of `m<n>*` (ns).
    pub fn window_ns(&self, n_avg: u32) -> i64 {
        (f64::from(n_avg) * self.per_sample_us * 1e3).round() as i64
    }

    /// After the command has fully arrived: when averaging starts (ns, relative).
    pub fn window_start_after_rx_ns(&self) -> i64 {
        (self.pre_us * 1e3).round() as i64
    }

    /// After the command has fully arrived: when the data line (or the ack of a register
    /// command) starts on the wire (ns, relative).
    pub fn reply_after_rx_ns(&self, command: &Command) -> i64 {
        let window = match command {
            Command::Measure(n) => self.window_ns(u32::from(*n)),
            _ => 0,
        };
        ((self.pre_us + self.post_us) * 1e3).round() as i64 + window
    }

    /// Predicted round trip of `m<n>*` with a data line of `data_bytes` bytes (ns).
    pub fn round_trip_ns(&self, n_avg: u32, data_bytes: usize) -> i64 {
        let cmd = Command::Measure(n_avg.min(u32::from(u16::MAX)) as u16);
        self.wire_ns(cmd.encode().len()) + self.reply_after_rx_ns(&cmd) + self.wire_ns(data_bytes)
    }

    /// Places the averaging window of a reply from the host's stamps.
    ///
    /// Returns `(middle_ns, error_ns)`: the estimate forward through the model from the send
    /// stamp, and as its error bound the part of the round trip the model does not explain (the
    /// receive stamp minus its own backward estimate). The send stamp is the anchor because it
    /// is taken just before the write, while the receive stamp carries the delays that pile up
    /// on the way back: a USB-serial adapter's latency timer (16 ms by default) and the host's
    /// scheduling (a loaded machine wakes the reader late). A receive stamp *earlier* than the
    /// model allows means the model is too slow for this board; the middle is then moved back
    /// by the difference so it never lies after what the reply proves.
    ///
    /// ```
    /// use aefi_scan_engine::board::timing::BoardTiming;
    /// let t = BoardTiming::legacy_fit();
    /// let rt = t.round_trip_ns(10, 70);
    /// let (mid, err) = t.window_middle_ns(1_000_000, 1_000_000 + rt, 10, 70);
    /// assert!(err <= 1, "a reply timed exactly as the model has no error: {err}");
    /// // the window lies inside the round trip, and moves with the stamps
    /// assert!(mid > 1_000_000 && mid < 1_000_000 + rt);
    /// let (later, _) = t.window_middle_ns(2_000_000, 2_000_000 + rt, 10, 70);
    /// assert_eq!(later - mid, 1_000_000);
    /// // the middle of the round trip, up to the wire asymmetry (4 bytes out, 70 back)
    /// assert!((mid - 1_000_000 - rt / 2).abs() < 300_000);
    /// // 3 ms of latency on the way back: the estimate stays put, the bound grows
    /// let (late, err) = t.window_middle_ns(1_000_000, 1_000_000 + rt + 3_000_000, 10, 70);
    /// assert!(late == mid && (err - 3_000_000).abs() <= 1);
    /// ```
    pub fn window_middle_ns(&self, t_send_ns: i64, t_recv_ns: i64, n_avg: u32, data_bytes: usize) -> (i64, i64) {
        let cmd = Command::Measure(n_avg.min(u32::from(u16::MAX)) as u16);
        let half_window = self.window_ns(n_avg) / 2;
        let from_send = t_send_ns + self.wire_ns(cmd.encode().len()) + self.window_start_after_rx_ns() + half_window;
        let from_recv = t_recv_ns - self.wire_ns(data_bytes) - (self.post_us * 1e3).round() as i64 - half_window;
        let unexplained = from_recv - from_send;
        let mid = if unexplained >= 0 { from_send } else { from_recv };
        (mid, unexplained.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_reproduces_the_two_legacy_rates() {
        let t = BoardTiming::legacy_fit();
        for (n, hz) in [(10u32, 73.0), (50, 43.0)] {
            let rt_s = t.round_trip_ns(n, FIT_NOMINAL_BYTES - 4) as f64 * 1e-9;
            assert!((1.0 / rt_s - hz).abs() / hz < 0.005, "n={n}: {} Hz", 1.0 / rt_s);
        }
        let hz = |n| 1e9 / t.round_trip_ns(n, 70) as f64;
        assert!((hz(1) - 86.6).abs() < 0.5, "{}", hz(1));
        assert!((hz(127) - 24.0).abs() < 0.2, "{}", hz(127));
        assert!(hz(127) < hz(10) && hz(10) < hz(1));
    }

    #[test]
    fn window_middle_is_anchored_on_the_send_stamp() {
        let t = BoardTiming::legacy_fit();
        let rt = t.round_trip_ns(1, 70);
        let (mid0, err0) = t.window_middle_ns(0, rt, 1, 70);
        assert!(err0 <= 1);
        let extra = 2_000_000; // 2 ms of receive latency the model does not know about
        let (late, err) = t.window_middle_ns(0, rt + extra, 1, 70);
        assert_eq!(late, mid0);
        assert!((err - extra).abs() <= 1, "{err}");
        // a reply faster than the model: the middle moves back so it stays consistent with it
        let (early, err) = t.window_middle_ns(0, rt - extra, 1, 70);
        assert!((early - (mid0 - extra)).abs() <= 1 && (err - extra).abs() <= 1, "{early} {err}");
    }
}
