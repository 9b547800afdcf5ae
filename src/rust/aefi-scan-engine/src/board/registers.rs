//! The board's register map and the configuration step (DDS and ADC settings → register writes).
//!
//! Register addresses and encodings are those the legacy bench code writes through `a<addr>*` /
//! `d<val>*` (`ad9106_controller.py`, `ads131_controller.py` in Luciosmic/AEFI_Acquisition):
//!
//! | addr | register | encoding |
//! |---|---|---|
//! | 11 | ADS131A04 A_SYS_CFG | bit6 high resolution, bit5 always 1, bit4 VREF 4 V (0 = 2.442 V), bit3 internal reference |
//! | 13 | ADS131A04 CLK1 | CLKIN divider (2..14, even) |
//! | 14 | ADS131A04 CLK2 | ICLK divider code × 32 + OSR code (table [`OSR_VALUES`]) |
//! | 17..20 | ADS131A04 ADC1..ADC4 | digital gain code: log2(gain), gain 1..16 |
//! | 62, 63 | AD9106 DDS tuning word MSB, LSB | `round(f · 2³² / 16 MHz)` split in 16-bit halves |
//! | 39, 38 | AD9106 mode DDS1+2, DDS3+4 | low byte odd channel, high byte even; AC = 0x31, DC = 0x01 |
//! | 53..50 | AD9106 gain DDS1..4 | 0..16376 |
//! | 67..64 | AD9106 phase DDS1..4 | 0..65535 (full turn) |
//! | 37..34 | AD9106 digital offset DAC1..4 | 0..65535 |
//! | 49..46 | AD9106 DC constant DDS1..4 | 0..65535 |
//!
//! DDS1/DDS2 excite the sources 180° apart; DDS3/DDS4 are the lock-in references 90° apart.
//! Note: the legacy default tuning words (MSB 8, LSB 12583) decode to 2000 Hz with the 16 MHz
//! formula while the legacy comment says "~1000 Hz"; we keep the formula as the code has it.
//!
//! Assumptions (simulated board): an `a` to an address outside this map is refused with
//! `?ADDR`, a `d` before any `a` with `?NOADDR`, a value that does not fit the register with
//! `?RANGE`; the MCU writes the four ADC gain registers to both ADS131A04 chips.
use super::convert::AdcScale;

/// DDS system clock of the AD9106 on the board (Hz).
pub const DDS_CLOCK_HZ: f64 = 16_000_000.0;
/// Oversampling ratios of the ADS131A04, in register-code order (code = index).
pub const OSR_VALUES: [u16; 16] = [4096, 2048, 1024, 800, 768, 512, 400, 384, 256, 200, 192, 128, 96, 64, 48, 32];
/// Largest DDS amplitude word.
pub const DDS_GAIN_MAX: u16 = 16_376;

/// Register addresses.
pub mod addr {
    /// ADS131A04 A_SYS_CFG.
    pub const A_SYS_CFG: u16 = 11;
    /// ADS131A04 CLK1 (CLKIN divider).
    pub const CLK1: u16 = 13;
    /// ADS131A04 CLK2 (ICLK divider + OSR).
    pub const CLK2: u16 = 14;
    /// ADS131A04 ADC1 gain; ADC2..ADC4 follow.
    pub const ADC1_GAIN: u16 = 17;
    /// DDS tuning word, high 16 bits.
    pub const FREQ_MSB: u16 = 62;
    /// DDS tuning word, low 16 bits.
    pub const FREQ_LSB: u16 = 63;
    /// Mode of DDS1 (low byte) and DDS2 (high byte).
    pub const MODE_12: u16 = 39;
    /// Mode of DDS3 (low byte) and DDS4 (high byte).
    pub const MODE_34: u16 = 38;
    /// Gain DDS1..4 = 53, 52, 51, 50.
    pub const GAIN: [u16; 4] = [53, 52, 51, 50];
    /// Phase DDS1..4 = 67, 66, 65, 64.
    pub const PHASE: [u16; 4] = [67, 66, 65, 64];
    /// Digital offset DAC1..4 = 37, 36, 35, 34.
    pub const OFFSET: [u16; 4] = [37, 36, 35, 34];
    /// DC constant DDS1..4 = 49, 48, 47, 46.
    pub const CONST: [u16; 4] = [49, 48, 47, 46];
}

const MODE_AC: u16 = 0x31;
const MODE_DC: u16 = 0x01;

/// A configuration value out of its range; names the parameter and the allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{parameter} = {value} is out of range (allowed: {allowed})")]
pub struct ConfigError {
    /// The parameter, as the user names it.
    pub parameter: String,
    /// The refused value.
    pub value: String,
    /// The allowed values.
    pub allowed: String,
}

fn bad(parameter: impl Into<String>, value: impl ToString, allowed: &str) -> ConfigError {
    ConfigError { parameter: parameter.into(), value: value.to_string(), allowed: allowed.to_string() }
}

/// One DDS output of the AD9106.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdsChannel {
    /// Amplitude word, 0..=16376 (0 switches the output off).
    pub gain: u16,
    /// Phase word, 0..=65535 for a full turn.
    pub phase: u16,
    /// Digital offset word.
    pub offset: u16,
    /// DC constant word.
    pub constant: u16,
    /// AC (sine) output; DC otherwise.
    pub ac: bool,
}

/// Everything the configuration step writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardConfig {
    /// DDS frequency (Hz), 0 < f ≤ 8 MHz.
    pub dds_frequency_hz: f64,
    /// DDS1..DDS4.
    pub dds: [DdsChannel; 4],
    /// ADS131A04 digital gain of inputs 1..4: 1, 2, 4, 8 or 16.
    pub adc_gains: [u8; 4],
    /// ADS131A04 oversampling ratio (one of [`OSR_VALUES`]).
    pub osr: u16,
    /// ADS131A04 ICLK divider (2..=14, even).
    pub iclk_divider: u8,
}

impl Default for BoardConfig {
    /// The bench's working point: 1 kHz, sources DDS1/DDS2 on and 180° apart, references
    /// DDS3/DDS4 90° apart (legacy `init_default_config` with the excitation switched on),
    /// ADC gain 1, OSR 4096 (`ads131a04_default_config.json`).
    fn default() -> Self {
        let ch = |gain, phase| DdsChannel { gain, phase, offset: 0, constant: 0, ac: true };
        Self {
            dds_frequency_hz: 1000.0,
            dds: [ch(10_000, 0), ch(10_000, 32_768), ch(10_000, 16_384), ch(10_000, 0)],
            adc_gains: [1; 4],
            osr: 4096,
            iclk_divider: 2,
        }
    }
}

impl BoardConfig {
    /// Checks every value and returns the `(address, value)` writes, in order.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad parameter and its allowed range.
    ///
    /// ```
    /// use aefi_scan_engine::board::registers::BoardConfig;
    /// let writes = BoardConfig::default().register_writes().unwrap();
    /// assert!(writes.contains(&(62, 4)) && writes.contains(&(63, 6291)));
    /// let mut bad = BoardConfig::default();
    /// bad.osr = 1000;
    /// assert!(bad.register_writes().unwrap_err().to_string().contains("osr"));
    /// ```
    pub fn register_writes(&self) -> Result<Vec<(u16, u16)>, ConfigError> {
        let word = tuning_word(self.dds_frequency_hz)?;
        let osr_code = OSR_VALUES
            .iter()
            .position(|&o| o == self.osr)
            .ok_or_else(|| bad("osr", self.osr, "4096, 2048, 1024, 800, 768, 512, 400, 384, 256, 200, 192, 128, 96, 64, 48, 32"))?;
        if !(2..=14).contains(&self.iclk_divider) || self.iclk_divider % 2 != 0 {
            return Err(bad("iclk_divider", self.iclk_divider, "2, 4, 6, 8, 10, 12, 14"));
        }
        let mut w = vec![
            (addr::A_SYS_CFG, 64 + 32 + 8), // high resolution, reserved bit, internal 2.442 V reference
            (addr::CLK2, (u16::from(self.iclk_divider) / 2) * 32 + osr_code as u16),
        ];
        for (k, &g) in self.adc_gains.iter().enumerate() {
            if !matches!(g, 1 | 2 | 4 | 8 | 16) {
                return Err(bad(format!("adc_gains[{k}]"), g, "1, 2, 4, 8, 16"));
            }
            w.push((addr::ADC1_GAIN + k as u16, g.trailing_zeros() as u16));
        }
        w.push((addr::FREQ_MSB, (word >> 16) as u16));
        w.push((addr::FREQ_LSB, (word & 0xFFFF) as u16));
        let mode = |a: &DdsChannel| if a.ac { MODE_AC } else { MODE_DC };
        w.push((addr::MODE_12, mode(&self.dds[0]) | (mode(&self.dds[1]) << 8)));
        w.push((addr::MODE_34, mode(&self.dds[2]) | (mode(&self.dds[3]) << 8)));
        for (k, ch) in self.dds.iter().enumerate() {
            if ch.gain > DDS_GAIN_MAX {
                return Err(bad(format!("dds_gains[{k}]"), ch.gain, "0..=16376"));
            }
            w.push((addr::OFFSET[k], ch.offset));
            w.push((addr::CONST[k], ch.constant));
            w.push((addr::GAIN[k], ch.gain));
            w.push((addr::PHASE[k], ch.phase));
        }
        Ok(w)
    }
}

/// The AD9106 tuning word of a frequency.
///
/// # Errors
/// [`ConfigError`] unless 0 < f ≤ 8 MHz.
pub fn tuning_word(frequency_hz: f64) -> Result<u32, ConfigError> {
    if !(frequency_hz > 0.0 && frequency_hz <= DDS_CLOCK_HZ / 2.0) {
        return Err(bad("dds_frequency_hz", frequency_hz, "0 < f <= 8000000 Hz"));
    }
    Ok((frequency_hz * 4_294_967_296.0 / DDS_CLOCK_HZ).round() as u32)
}

/// Frequency (Hz) of a tuning word.
pub fn frequency_of(word: u32) -> f64 {
    f64::from(word) * DDS_CLOCK_HZ / 4_294_967_296.0
}

/// Why the (simulated) MCU refused a register command; the text after `?` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterRefusal {
    /// `a` to an address outside the map.
    Address,
    /// `d` with no address selected.
    NoAddress,
    /// A value that does not fit the register.
    Range,
}

impl RegisterRefusal {
    /// The error word sent after `?`.
    pub fn word(&self) -> &'static str {
        match self {
            RegisterRefusal::Address => "ADDR",
            RegisterRefusal::NoAddress => "NOADDR",
            RegisterRefusal::Range => "RANGE",
        }
    }
}

/// The board's register file (simulator side): applies writes, derives the ADC scale.
#[derive(Debug, Clone)]
pub struct RegisterFile {
    selected: Option<u16>,
    values: std::collections::BTreeMap<u16, u16>,
}

impl Default for RegisterFile {
    /// Powered up configured with [`BoardConfig::default`].
    fn default() -> Self {
        let mut values = std::collections::BTreeMap::new();
        for (a, v) in BoardConfig::default().register_writes().unwrap_or_default() {
            values.insert(a, v);
        }
        Self { selected: None, values }
    }
}

impl RegisterFile {
    fn known(address: u16) -> bool {
        matches!(address, 11 | 13 | 14 | 17..=20 | 34..=39 | 46..=53 | 62..=67)
    }

    /// `a<addr>*`.
    ///
    /// # Errors
    /// [`RegisterRefusal::Address`] outside the map.
    pub fn select(&mut self, address: u16) -> Result<(), RegisterRefusal> {
        if !Self::known(address) {
            return Err(RegisterRefusal::Address);
        }
        self.selected = Some(address);
        Ok(())
    }

    /// `d<val>*`.
    ///
    /// # Errors
    /// [`RegisterRefusal::NoAddress`] before any `a`, [`RegisterRefusal::Range`] for a value the
    /// register cannot hold.
    pub fn write(&mut self, value: u16) -> Result<(), RegisterRefusal> {
        let a = self.selected.ok_or(RegisterRefusal::NoAddress)?;
        let fits = match a {
            17..=20 => value <= 4,
            14 => (value & 31) < 16 && (value >> 5) <= 7,
            50..=53 => value <= DDS_GAIN_MAX,
            _ => true,
        };
        if !fits {
            return Err(RegisterRefusal::Range);
        }
        self.values.insert(a, value);
        Ok(())
    }

    /// The register the next `d` writes (the last `a`).
    pub fn selected(&self) -> Option<u16> {
        self.selected
    }

    /// Current value of a register.
    pub fn get(&self, address: u16) -> u16 {
        self.values.get(&address).copied().unwrap_or(0)
    }

    /// How codes become volts under the current ADC settings.
    pub fn adc_scale(&self) -> AdcScale {
        let vref = if self.get(addr::A_SYS_CFG) & 16 != 0 { 4.0 } else { super::convert::VREF_VOLTS };
        AdcScale { vref_volts: vref, gains: std::array::from_fn(|k| 1u8 << self.get(addr::ADC1_GAIN + k as u16).min(4)) }
    }

    /// Relative excitation amplitude (1.0 at the default working point): the mean of the
    /// DDS1/DDS2 amplitude words over their default, 0 when the sources are off.
    pub fn excitation(&self) -> f64 {
        let g = f64::from(self.get(addr::GAIN[0])) + f64::from(self.get(addr::GAIN[1]));
        g / 20_000.0
    }

    /// Current DDS frequency (Hz).
    pub fn dds_frequency_hz(&self) -> f64 {
        frequency_of((u32::from(self.get(addr::FREQ_MSB)) << 16) | u32::from(self.get(addr::FREQ_LSB)))
    }

    /// Current oversampling ratio.
    pub fn osr(&self) -> u16 {
        OSR_VALUES[usize::from(self.get(addr::CLK2) & 15)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_words() {
        // the legacy default tuning word (MSB 8, LSB 12583)
        assert!((frequency_of((8 << 16) | 12583) - 2000.0).abs() < 0.01);
        assert_eq!(tuning_word(1000.0).unwrap(), 268_435);
        for bad in [0.0, -1.0, 8.1e6, f64::NAN] {
            assert!(tuning_word(bad).unwrap_err().to_string().contains("dds_frequency_hz"));
        }
    }

    #[test]
    fn writes_apply_to_register_file() {
        let mut cfg = BoardConfig { adc_gains: [2, 1, 16, 1], osr: 256, dds_frequency_hz: 1234.5, ..BoardConfig::default() };
        cfg.dds[0].gain = 0;
        cfg.dds[1].gain = 5000;
        let mut rf = RegisterFile::default();
        for (a, v) in cfg.register_writes().unwrap() {
            rf.select(a).unwrap();
            rf.write(v).unwrap();
        }
        assert_eq!(rf.adc_scale().gains, [2, 1, 16, 1]);
        assert_eq!(rf.osr(), 256);
        assert!((rf.dds_frequency_hz() - 1234.5).abs() < 0.01);
        assert!((rf.excitation() - 0.25).abs() < 1e-12);
        assert!((RegisterFile::default().excitation() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn refusals() {
        let mut rf = RegisterFile { selected: None, values: Default::default() };
        assert_eq!(rf.write(1), Err(RegisterRefusal::NoAddress));
        assert_eq!(rf.select(999), Err(RegisterRefusal::Address));
        rf.select(17).unwrap();
        assert_eq!(rf.write(5), Err(RegisterRefusal::Range));
        rf.select(53).unwrap();
        assert_eq!(rf.write(16_377), Err(RegisterRefusal::Range));
    }

    #[test]
    fn config_errors_name_the_parameter() {
        let mut c = BoardConfig::default();
        c.adc_gains[2] = 3;
        assert!(c.register_writes().unwrap_err().to_string().contains("adc_gains[2]"));
        let mut c = BoardConfig::default();
        c.dds[3].gain = 20_000;
        assert!(c.register_writes().unwrap_err().to_string().contains("dds_gains[3]"));
        let c = BoardConfig { iclk_divider: 3, ..BoardConfig::default() };
        assert!(c.register_writes().unwrap_err().to_string().contains("iclk_divider"));
    }
}
