//! Configuration of the simulated PMX-4EX-SA: switches, encoder, timing and fault injection.
//!
//! One textual option syntax serves the `sim://` URL query, the CLI and Python
//! (`key=value`, e.g. `limit=X=-1000:300000`, `home=X=0`), parsed by [`SimConfig::apply_option`].
use aefi_scan_engine::arcus::protocol::Axis;

/// Per-axis switch positions (pulses, in the frame of the pulse counter at power-up).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AxisSwitches {
    /// − limit: the input is active at or below this position.
    pub minus_limit: Option<i64>,
    /// + limit: the input is active at or above this position.
    pub plus_limit: Option<i64>,
    /// Home switch: a point; the input is active while the axis is on it.
    pub home: Option<i64>,
}

/// Faults applied to replies and motion (see [`super::Fault`] for the in-process API).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultConfig {
    /// Drop every Nth reply (0 = never).
    pub drop_every: u64,
    /// Garble every Nth reply (0 = never).
    pub garble_every: u64,
    /// Extra delay on every reply (ns).
    pub extra_delay_ns: i64,
    /// Stop answering for good after this many replies (link dead).
    pub disconnect_after: Option<u64>,
    /// One-shot limit switches: the axis hits a limit when it reaches this position.
    pub limit_hits: Vec<(Axis, i64)>,
    /// Stall an axis this long after the simulator starts (ns): it stops moving while its
    /// pulses are still counted.
    pub stalls_after_ns: Vec<(Axis, i64)>,
}

/// Everything that defines a simulated controller at power-up.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Device number (last two digits of the name `4EXnn`).
    pub device: u8,
    /// Baud rate of the RS-485 line (one of the `DB` rates).
    pub baud: u32,
    /// Controller turnaround: last command byte in → first reply byte out (ns).
    pub turnaround_ns: i64,
    /// Switches of X, Y, Z, U.
    pub switches: [AxisSwitches; 4],
    /// Encoder counts per pulse of every axis without its own setting (0 = no encoder wired:
    /// counters stay at 0).
    pub encoder_ratio: f64,
    /// Per-axis encoder counts per pulse (X, Y, Z, U), overriding `encoder_ratio`.
    pub axis_encoder_ratio: [Option<f64>; 4],
    /// Faults.
    pub faults: FaultConfig,
}

/// Baud rates of the `DB` codes 1..5.
pub const BAUD_CODES: [u32; 5] = [9600, 19200, 38400, 57600, 115200];

/// Default turnaround (the real figure is unknown: notes §1, unverified).
pub const DEFAULT_TURNAROUND_NS: i64 = 200_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            device: 0,
            baud: 9600,
            turnaround_ns: DEFAULT_TURNAROUND_NS,
            switches: [AxisSwitches::default(); 4],
            encoder_ratio: 1.0,
            axis_encoder_ratio: [None; 4],
            faults: FaultConfig::default(),
        }
    }
}

fn axis_value(value: &str, what: &str) -> Result<(Axis, String), String> {
    let (a, v) = value.split_once('=').ok_or_else(|| format!("{what} expects AXIS=VALUE, e.g. X=0 (got {value:?})"))?;
    Ok((Axis::parse_name(a)?, v.to_string()))
}

fn int(v: &str, what: &str) -> Result<i64, String> {
    v.trim().parse().map_err(|_| format!("{what} expects an integer (got {v:?})"))
}

fn float(v: &str, what: &str) -> Result<f64, String> {
    v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{what} expects a number (got {v:?})"))
}

impl SimConfig {
    /// The `DB` code of the configured baud.
    pub fn baud_code(&self) -> u8 {
        BAUD_CODES.iter().position(|b| *b == self.baud).map_or(1, |i| i as u8 + 1)
    }

    /// Encoder counts per pulse of `axis` (0 = no encoder wired).
    pub fn encoder_counts_per_step(&self, axis: Axis) -> f64 {
        self.axis_encoder_ratio[axis.index()].unwrap_or(self.encoder_ratio)
    }

    /// Applies one `key=value` option.
    ///
    /// Keys: `baud`, `device`, `turnaround_us`, `limit` (`X=-1000:300000`, either side may be
    /// empty), `home` (`X=0`), `encoder_ratio`, `drop_every`, `garble_every`, `delay_ms`,
    /// `disconnect_after`, `limit_hit` (`X=5000`), `stall` (`X=2.5`, seconds after start),
    /// `encoder` (`X=2.56`: counts per pulse of one axis, 0 = not wired), `encoder_ppr`
    /// (`X=2048:3200`: a quadrature encoder of 2048 lines per turn on a motor of 3200 pulses per
    /// turn, decoded 4×, i.e. 4·2048/3200 = 2.56 counts per pulse).
    ///
    /// # Errors
    /// A message naming the option and the allowed values.
    ///
    /// ```
    /// use aefi_sim::arcus::SimConfig;
    /// let mut c = SimConfig::default();
    /// c.apply_option("limit", "X=-1000:300000").unwrap();
    /// assert_eq!(c.switches[0].plus_limit, Some(300000));
    /// assert!(c.apply_option("baud", "1234").is_err());
    /// ```
    pub fn apply_option(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            // the options of the bench's acquisition board (`crate::board::BoardSimConfig`)
            k if crate::board::is_board_option(k) => {}
            "baud" => {
                let b = int(value, "baud")?;
                if !BAUD_CODES.iter().any(|x| i64::from(*x) == b) {
                    return Err(format!("baud must be one of {BAUD_CODES:?} (the DB codes 1..5), got {b}"));
                }
                self.baud = b as u32;
            }
            "device" => {
                let d = int(value, "device")?;
                if !(0..=99).contains(&d) {
                    return Err(format!("device must be 0..=99, got {d}"));
                }
                self.device = d as u8;
            }
            "turnaround_us" => {
                let us = float(value, "turnaround_us")?;
                if !(0.0..=1e6).contains(&us) {
                    return Err(format!("turnaround_us must be in 0..=1000000, got {us}"));
                }
                self.turnaround_ns = (us * 1e3) as i64;
            }
            "limit" => {
                let (axis, v) = axis_value(value, "limit")?;
                let (lo, hi) = v.split_once(':').ok_or_else(|| format!("limit expects AXIS=MINUS:PLUS (got {value:?})"))?;
                let lo = if lo.trim().is_empty() { None } else { Some(int(lo, "limit")?) };
                let hi = if hi.trim().is_empty() { None } else { Some(int(hi, "limit")?) };
                if let (Some(l), Some(h)) = (lo, hi) {
                    if l >= h {
                        return Err(format!("limit {axis}: minus {l} must be below plus {h}"));
                    }
                }
                let s = &mut self.switches[axis.index()];
                s.minus_limit = lo;
                s.plus_limit = hi;
            }
            "home" => {
                let (axis, v) = axis_value(value, "home")?;
                self.switches[axis.index()].home = Some(int(&v, "home")?);
            }
            "encoder_ratio" => {
                let r = float(value, "encoder_ratio")?;
                if !(0.0..=1000.0).contains(&r) {
                    return Err(format!("encoder_ratio must be in 0..=1000, got {r}"));
                }
                self.encoder_ratio = r;
            }
            "encoder" => {
                let (axis, v) = axis_value(value, "encoder")?;
                let r = float(&v, "encoder")?;
                if !(0.0..=1000.0).contains(&r) {
                    return Err(format!("encoder {axis}: counts per pulse must be in 0..=1000, got {r}"));
                }
                self.axis_encoder_ratio[axis.index()] = Some(r);
            }
            "encoder_ppr" => {
                let (axis, v) = axis_value(value, "encoder_ppr")?;
                let (lines, steps) =
                    v.split_once(':').ok_or_else(|| format!("encoder_ppr expects AXIS=LINES:PULSES_PER_TURN (got {value:?})"))?;
                let (lines, steps) = (int(lines, "encoder_ppr")?, int(steps, "encoder_ppr")?);
                if lines <= 0 || steps <= 0 {
                    return Err(format!("encoder_ppr {axis}: lines and pulses per turn must be > 0, got {lines}:{steps}"));
                }
                // Quadrature decoded 4×: every edge of both channels counts.
                let r = 4.0 * lines as f64 / steps as f64;
                if r > 1000.0 {
                    return Err(format!("encoder_ppr {axis}: {r} counts per pulse is above 1000"));
                }
                self.axis_encoder_ratio[axis.index()] = Some(r);
            }
            "drop_every" => self.faults.drop_every = int(value, "drop_every")?.max(0) as u64,
            "garble_every" => self.faults.garble_every = int(value, "garble_every")?.max(0) as u64,
            "delay_ms" => {
                let ms = float(value, "delay_ms")?;
                if !(0.0..=60_000.0).contains(&ms) {
                    return Err(format!("delay_ms must be in 0..=60000, got {ms}"));
                }
                self.faults.extra_delay_ns = (ms * 1e6) as i64;
            }
            "disconnect_after" => self.faults.disconnect_after = Some(int(value, "disconnect_after")?.max(0) as u64),
            "limit_hit" => {
                let (axis, v) = axis_value(value, "limit_hit")?;
                self.faults.limit_hits.push((axis, int(&v, "limit_hit")?));
            }
            "stall" => {
                let (axis, v) = axis_value(value, "stall")?;
                let s = float(&v, "stall")?;
                if s < 0.0 {
                    return Err(format!("stall {axis}: seconds must be >= 0, got {s}"));
                }
                self.faults.stalls_after_ns.push((axis, (s * 1e9) as i64));
            }
            other => {
                return Err(format!(
                    "unknown simulator option {other:?} (allowed: baud, device, turnaround_us, limit, home, \
                     encoder_ratio, encoder, encoder_ppr, drop_every, garble_every, delay_ms, disconnect_after, limit_hit, stall; \
                     the board's: board_offset_uv, board_drift_uv_per_s, filter_tau_ms)"
                ))
            }
        }
        Ok(())
    }

    /// Applies options in order.
    ///
    /// # Errors
    /// The first bad option's message.
    pub fn with_options<'a>(mut self, options: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        for (k, v) in options {
            self.apply_option(k, v)?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse() {
        let c = SimConfig::default()
            .with_options([
                ("limit", "Y=:5000"),
                ("home", "x=-20"),
                ("baud", "115200"),
                ("turnaround_us", "50"),
                ("stall", "X=1.5"),
                ("limit_hit", "Z=7"),
            ])
            .unwrap();
        assert_eq!(c.switches[1].minus_limit, None);
        assert_eq!(c.switches[1].plus_limit, Some(5000));
        assert_eq!(c.switches[0].home, Some(-20));
        assert_eq!(c.baud_code(), 5);
        assert_eq!(c.turnaround_ns, 50_000);
        assert_eq!(c.faults.stalls_after_ns, vec![(Axis::X, 1_500_000_000)]);
        let e = SimConfig::default().with_options([("encoder_ppr", "X=2048:3200"), ("encoder", "Y=0")]).unwrap();
        assert_eq!(e.encoder_counts_per_step(Axis::X), 2.56);
        assert_eq!(e.encoder_counts_per_step(Axis::Y), 0.0);
        assert_eq!(e.encoder_counts_per_step(Axis::Z), 1.0);
        for (k, v, needle) in [
            ("limit", "X=10:5", "below"),
            ("limit", "X10", "AXIS=VALUE"),
            ("home", "Q=1", "axis must be"),
            ("device", "100", "0..=99"),
            ("colour", "red", "unknown simulator option"),
            ("encoder_ppr", "X=2048", "LINES:PULSES_PER_TURN"),
            ("encoder_ppr", "X=0:3200", "> 0"),
            ("encoder", "X=-1", "0..=1000"),
        ] {
            let e = SimConfig::default().apply_option(k, v).unwrap_err();
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
    }
}
