//! Raw ADC code → volts → field (V/m, lab frame), with the calibration and rotation as data.
//!
//! Facts (`notes/aefi-legacy.md` §3): `V = code / 2²³ · Vref / gain` with Vref = 2.442 V (the
//! ADS131A04 internal reference); calibration 63600 (V/m)/V; a sensor→lab rotation given as three
//! angles (`theta_x`, `theta_y`, `theta_z`, degrees, in the bench's `aefi_device_config.json`).
//! The six channels are the first six codes, in [`CHANNEL_NAMES`] order.
//!
//! Gains: the MCU writes the ADS131A04 gain registers ADC1..ADC4 (see `registers`); both chips
//! receive the same writes (assumption), so code `k` uses the gain of input `k mod 4`.
//!
//! Rotation convention (the legacy config does not state one; assumption): lab = Rz·Ry·Rx · sensor
//! (rotate about X first, then Y, then Z, fixed axes), applied to the in-phase vector and to the
//! quadrature vector separately.

/// The six lock-in channels of one measurement (`AefiVoltageMeasurement`), in the bench's order:
/// X/Y/Z sensor axes × in-phase/quadrature.
pub const CHANNEL_NAMES: [&str; 6] = ["x_in_phase", "x_quadrature", "y_in_phase", "y_quadrature", "z_in_phase", "z_quadrature"];
use super::protocol::{RawCodes, CHANNELS_USED};

/// ADS131A04 internal reference (V) in its 2.442 V mode.
pub const VREF_VOLTS: f64 = 2.442;
/// Full scale of a 24-bit signed code.
pub const CODE_FULL_SCALE: f64 = 8_388_608.0; // 2^23
/// Bench calibration of the sensor: V/m of field per volt at the lock-in output.
pub const V_PER_M_PER_VOLT: f64 = 63_600.0;

/// How codes become volts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdcScale {
    /// Reference voltage (V).
    pub vref_volts: f64,
    /// Digital gain of ADC inputs 1..4 (1, 2, 4, 8 or 16), shared by both chips.
    pub gains: [u8; 4],
}

impl Default for AdcScale {
    fn default() -> Self {
        Self { vref_volts: VREF_VOLTS, gains: [1; 4] }
    }
}

impl AdcScale {
    /// Gain applied to code `index` (0..8).
    pub fn gain_of(&self, index: usize) -> f64 {
        f64::from(self.gains[index % 4].max(1))
    }

    /// Volts of one code.
    ///
    /// ```
    /// use aefi_scan_engine::board::convert::AdcScale;
    /// let s = AdcScale::default();
    /// assert!((s.code_to_volts(1 << 22, 0) - 1.221).abs() < 1e-12);
    /// ```
    pub fn code_to_volts(&self, code: i32, index: usize) -> f64 {
        f64::from(code) / CODE_FULL_SCALE * self.vref_volts / self.gain_of(index)
    }

    /// The code an ideal ADC gives for `volts` on input `index` (rounded, saturating at the
    /// 24-bit limits as the real converter does).
    pub fn volts_to_code(&self, volts: f64, index: usize) -> i32 {
        let code = (volts * self.gain_of(index) / self.vref_volts * CODE_FULL_SCALE).round();
        if code.is_nan() {
            return 0;
        }
        code.clamp(-CODE_FULL_SCALE, CODE_FULL_SCALE - 1.0) as i32
    }

    /// The six channel voltages of one measurement (first six codes).
    pub fn channels_volts(&self, codes: &RawCodes) -> [f64; CHANNELS_USED] {
        std::array::from_fn(|i| self.code_to_volts(codes[i], i))
    }
}

/// A 3×3 rotation matrix (row-major).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation(pub [[f64; 3]; 3]);

impl Default for Rotation {
    fn default() -> Self {
        Self::identity()
    }
}

impl Rotation {
    /// No rotation.
    pub fn identity() -> Self {
        Self([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    }

    /// Rz(θz)·Ry(θy)·Rx(θx), angles in degrees (see the module docs for the convention).
    ///
    /// ```
    /// use aefi_scan_engine::board::convert::Rotation;
    /// let r = Rotation::from_angles_deg(0.0, 0.0, 90.0);
    /// let v = r.apply([1.0, 0.0, 0.0]);
    /// assert!((v[1] - 1.0).abs() < 1e-12 && v[0].abs() < 1e-12);
    /// ```
    pub fn from_angles_deg(theta_x: f64, theta_y: f64, theta_z: f64) -> Self {
        let (sx, cx) = theta_x.to_radians().sin_cos();
        let (sy, cy) = theta_y.to_radians().sin_cos();
        let (sz, cz) = theta_z.to_radians().sin_cos();
        let rx = Rotation([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]]);
        let ry = Rotation([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]]);
        let rz = Rotation([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]]);
        rz.then_after(&ry).then_after(&rx)
    }

    /// `self · other` (apply `other` first).
    fn then_after(&self, other: &Rotation) -> Rotation {
        let (a, b) = (&self.0, &other.0);
        Rotation(std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum())))
    }

    /// The inverse rotation (lab → sensor).
    pub fn inverse(&self) -> Rotation {
        let m = &self.0;
        Rotation(std::array::from_fn(|i| std::array::from_fn(|j| m[j][i])))
    }

    /// Rotates one vector.
    pub fn apply(&self, v: [f64; 3]) -> [f64; 3] {
        std::array::from_fn(|i| (0..3).map(|k| self.0[i][k] * v[k]).sum())
    }
}

/// Sensor calibration: volts → V/m, then sensor frame → lab frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// V/m of field per volt of lock-in output (the bench uses 63600).
    pub v_per_m_per_volt: f64,
    /// Sensor → lab rotation.
    pub sensor_to_lab: Rotation,
}

impl Default for Calibration {
    fn default() -> Self {
        Self { v_per_m_per_volt: V_PER_M_PER_VOLT, sensor_to_lab: Rotation::identity() }
    }
}

impl Calibration {
    /// Field (V/m) in the lab frame from the six channel volts (sensor frame), same channel order.
    ///
    /// ```
    /// use aefi_scan_engine::board::convert::Calibration;
    /// let e = Calibration::default().field_v_per_m(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.5]);
    /// assert_eq!(e, [63600.0, 0.0, 0.0, 0.0, 0.0, 31800.0]);
    /// ```
    pub fn field_v_per_m(&self, volts: &[f64; CHANNELS_USED]) -> [f64; CHANNELS_USED] {
        let k = self.v_per_m_per_volt;
        let in_phase = self.sensor_to_lab.apply([volts[0] * k, volts[2] * k, volts[4] * k]);
        let quadrature = self.sensor_to_lab.apply([volts[1] * k, volts[3] * k, volts[5] * k]);
        [in_phase[0], quadrature[0], in_phase[1], quadrature[1], in_phase[2], quadrature[2]]
    }

    /// The six channel volts (sensor frame) that a lab-frame field produces (the simulator's
    /// direction).
    pub fn volts_from_field(&self, field: &[f64; CHANNELS_USED]) -> [f64; CHANNELS_USED] {
        let inv = self.sensor_to_lab.inverse();
        let k = self.v_per_m_per_volt;
        let i = inv.apply([field[0] / k, field[2] / k, field[4] / k]);
        let q = inv.apply([field[1] / k, field[3] / k, field[5] / k]);
        [i[0], q[0], i[1], q[1], i[2], q[2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_volt_table() {
        let s = AdcScale { vref_volts: VREF_VOLTS, gains: [1, 2, 4, 16] };
        for (code, index, volts) in [
            (0, 0, 0.0),
            (8_388_607, 0, 2.442 * 8_388_607.0 / 8_388_608.0),
            (-8_388_608, 0, -2.442),
            (4_194_304, 1, 0.6105),
            (4_194_304, 5, 0.6105), // code 5 = ADC2 input 2: gain of register ADC2
            (838_861, 3, 2.442 * 838_861.0 / 8_388_608.0 / 16.0),
        ] {
            assert!((s.code_to_volts(code, index) - volts).abs() < 1e-12, "{code} {index}");
            assert_eq!(s.volts_to_code(s.code_to_volts(code, index), index), code);
        }
        assert_eq!(s.volts_to_code(10.0, 0), 8_388_607);
        assert_eq!(s.volts_to_code(-10.0, 3), -8_388_608);
    }

    #[test]
    fn rotation_is_orthonormal_and_round_trips() {
        let r = Rotation::from_angles_deg(12.0, -30.0, 75.0);
        let v = [0.3, -1.2, 2.5];
        let back = r.inverse().apply(r.apply(v));
        for k in 0..3 {
            assert!((back[k] - v[k]).abs() < 1e-12);
        }
        let n = |v: [f64; 3]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((n(r.apply(v)) - n(v)).abs() < 1e-12);
        // Rx first, then Rz: x-rotation by 90° takes y to z; z-rotation leaves z alone
        let r2 = Rotation::from_angles_deg(90.0, 0.0, 90.0);
        let z = r2.apply([0.0, 1.0, 0.0]);
        assert!((z[2] - 1.0).abs() < 1e-12, "{z:?}");
    }

    #[test]
    fn calibration_round_trip_with_rotation() {
        let cal = Calibration { v_per_m_per_volt: V_PER_M_PER_VOLT, sensor_to_lab: Rotation::from_angles_deg(5.0, 10.0, -20.0) };
        let field = [1000.0, -200.0, 5.0, 30.0, -45_000.0, 12.0];
        let back = cal.field_v_per_m(&cal.volts_from_field(&field));
        for k in 0..6 {
            assert!((back[k] - field[k]).abs() < 1e-9, "{back:?}");
        }
    }
}
