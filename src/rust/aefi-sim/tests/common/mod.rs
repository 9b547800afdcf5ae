//! Helpers shared by the integration tests that image the simulated sample: the bench's step
//! size, mm → steps, and line interpolation of a scan's samples.

/// One motor step of the bench (µm).
pub const STEP_UM: f64 = 21.8;

/// The nearest whole number of steps to `mm`.
pub fn mm_to_steps(mm: f64) -> i64 {
    (mm / (STEP_UM * 1e-3)).round() as i64
}

/// Linear interpolation of one line's samples (sorted by position) at `x`.
pub fn interp(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let k = xs.partition_point(|&v| v < x).clamp(1, xs.len() - 1);
    let (x0, x1, y0, y1) = (xs[k - 1], xs[k], ys[k - 1], ys[k]);
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

/// Image error against the field map: the RMS of (measured − expected) and the range of the
/// expected values, accumulated one grid point at a time.
pub struct ImageError {
    sq: f64,
    lo: f64,
    hi: f64,
    count: u32,
}

impl ImageError {
    /// No points yet.
    pub fn new() -> Self {
        Self { sq: 0.0, lo: f64::INFINITY, hi: f64::NEG_INFINITY, count: 0 }
    }

    /// Adds one grid point.
    pub fn add(&mut self, measured: f64, expected: f64) {
        self.sq += (measured - expected).powi(2);
        self.count += 1;
        self.lo = self.lo.min(expected);
        self.hi = self.hi.max(expected);
    }

    /// RMS error of the points so far.
    pub fn rms(&self) -> f64 {
        (self.sq / f64::from(self.count)).sqrt()
    }

    /// Range (max − min) of the expected values so far.
    pub fn range(&self) -> f64 {
        self.hi - self.lo
    }
}
