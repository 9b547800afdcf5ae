//! The known electric-field map behind the simulated AEFI probe (virtual probe and board simulator).
//!
//! A flyscan image of the simulator is checked against this function, so it is deterministic and
//! cheap: a sum of dipole-like features on a weak linear background, evaluated at the *true*
//! probe position (mm, stage coordinates). It returns the six lock-in voltages of one
//! `AefiVoltageMeasurement`, in the bench's channel order (see [`CHANNEL_NAMES`]).

/// Channel order of a measurement everywhere in the project (Rust records, numpy columns, HDF5).
pub use aefi_scan_engine::board::convert::CHANNEL_NAMES;

/// Sensor calibration of the bench: volts at the lock-in output per V/m of field
/// (the bench records 63600 (V/m)/V).
pub const VOLTS_PER_V_PER_M: f64 = 1.0 / 63_600.0;

/// One dipole-like feature of the simulated sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// Centre, stage X (mm).
    pub x_mm: f64,
    /// Centre, stage Y (mm).
    pub y_mm: f64,
    /// Lateral size (mm): the field falls off over a few of these.
    pub size_mm: f64,
    /// Peak field strength (V/m) of the normal component.
    pub strength_v_per_m: f64,
    /// Phase of the response relative to the excitation (rad): splits in-phase/quadrature.
    pub phase_rad: f64,
}

/// A deterministic field map: features plus a linear background.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    /// The features of the sample.
    pub features: Vec<Feature>,
    /// Background field gradient (V/m per mm) along X and Y, applied to the Z component.
    pub background_v_per_m_per_mm: (f64, f64),
}

impl Default for FieldMap {
    fn default() -> Self {
        Self::aefi_default()
    }
}

impl FieldMap {
    /// The map every simulator uses unless told otherwise: a cluster of features near the
    /// home corner (where the demo raster flies, 10–90 mm) and another around 700 mm (the legacy
    /// 600–800 mm study area).
    pub fn aefi_default() -> Self {
        let f = |x_mm, y_mm, size_mm, strength_v_per_m, phase_rad| Feature { x_mm, y_mm, size_mm, strength_v_per_m, phase_rad };
        Self {
            features: vec![
                f(38.0, 32.0, 7.0, 52_000.0, 0.10),
                f(62.0, 46.0, 9.0, -38_000.0, 0.35),
                f(52.0, 22.0, 5.0, 27_000.0, -0.20),
                f(26.0, 52.0, 11.0, -21_000.0, 0.60),
                f(690.0, 710.0, 25.0, 45_000.0, 0.15),
                f(735.0, 655.0, 18.0, -30_000.0, 0.40),
            ],
            background_v_per_m_per_mm: (40.0, -25.0),
        }
    }

    /// Field (V/m) at a point, as complex components (in-phase, quadrature) for X, Y, Z.
    ///
    /// Each feature contributes a normal component `Ez ~ exp(-r²/2s²)` and in-plane components
    /// `E∥ ~ -∂Ez/∂r · s` (the gradient of the same bump), which is what a dipole seen by a probe
    /// at fixed height looks like to first order.
    pub fn field_v_per_m(&self, x_mm: f64, y_mm: f64) -> [f64; 6] {
        let mut out = [0.0; 6];
        for ft in &self.features {
            let dx = (x_mm - ft.x_mm) / ft.size_mm;
            let dy = (y_mm - ft.y_mm) / ft.size_mm;
            let bump = (-0.5 * (dx * dx + dy * dy)).exp();
            let ez = ft.strength_v_per_m * bump;
            let ex = -ft.strength_v_per_m * dx * bump;
            let ey = -ft.strength_v_per_m * dy * bump;
            let (c, s) = (ft.phase_rad.cos(), ft.phase_rad.sin());
            for (k, e) in [ex, ey, ez].into_iter().enumerate() {
                out[2 * k] += e * c;
                out[2 * k + 1] += e * s;
            }
        }
        let (gx, gy) = self.background_v_per_m_per_mm;
        out[4] += gx * x_mm + gy * y_mm;
        out
    }

    /// The six lock-in voltages (V) a noiseless probe reads at a point.
    ///
    /// ```
    /// use aefi_sim::field::FieldMap;
    /// let v = FieldMap::aefi_default().volts(38.0, 32.0);
    /// assert!(v[4] > 0.5, "strong normal field at the first feature: {v:?}");
    /// ```
    pub fn volts(&self, x_mm: f64, y_mm: f64) -> [f64; 6] {
        self.field_v_per_m(x_mm, y_mm).map(|e| e * VOLTS_PER_V_PER_M)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_at_feature_centre_and_decays() {
        let map = FieldMap {
            features: vec![Feature { x_mm: 10.0, y_mm: 20.0, size_mm: 5.0, strength_v_per_m: 63_600.0, phase_rad: 0.0 }],
            background_v_per_m_per_mm: (0.0, 0.0),
        };
        let centre = map.volts(10.0, 20.0);
        assert!((centre[4] - 1.0).abs() < 1e-12);
        assert!(centre[0].abs() < 1e-12 && centre[5].abs() < 1e-12);
        let far = map.volts(60.0, 20.0);
        assert!(far[4].abs() < 1e-10);
    }

    #[test]
    fn in_plane_components_are_odd_around_the_centre() {
        let map = FieldMap::aefi_default();
        let f = map.features[0];
        let left = map.volts(f.x_mm - 3.0, f.y_mm);
        let right = map.volts(f.x_mm + 3.0, f.y_mm);
        // the other features add a small asymmetric tail; the feature's own gradient dominates
        assert!(left[0] > 0.0 && right[0] < 0.0, "{left:?} {right:?}");
    }
}
