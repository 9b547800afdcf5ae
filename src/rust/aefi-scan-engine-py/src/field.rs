//! The known field map of the simulators, for Python (ground-truth maps, map error figures).
use aefi_sim::field::FieldMap;
use numpy::{PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;

/// Noiseless probe voltages (N, 6) of the default simulated sample at stage points (mm).
#[pyfunction]
fn field_map_volts<'py>(
    py: Python<'py>,
    x_mm: PyReadonlyArray1<'py, f64>,
    y_mm: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (x, y) = (x_mm.as_slice()?, y_mm.as_slice()?);
    if x.len() != y.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!("x_mm and y_mm differ in length ({} vs {})", x.len(), y.len())));
    }
    let map = FieldMap::aefi_default();
    let rows: Vec<Vec<f64>> = x.iter().zip(y).map(|(&a, &b)| map.volts(a, b).to_vec()).collect();
    if rows.is_empty() {
        return Ok(PyArray2::zeros(py, [0, 6], false));
    }
    PyArray2::from_vec2(py, &rows).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(field_map_volts, m)?)?;
    Ok(())
}
