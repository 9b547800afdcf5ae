//! What is connected: serial ports, Performax controllers over libusb and through
//! PerformaxCom.dll, and the link timing models `aefi-doctor` compares measurements with.
use aefi_scan_engine::arcus::framing::usb_round_trip_ns;
use aefi_scan_engine::board::timing::BoardTiming;
use aefi_scan_engine::transport::{performax, serial, usb};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::transport_class;

/// Names of the serial ports the OS lists (`/dev/ttyUSB0`, `COM10`).
#[pyfunction]
fn serial_ports(py: Python<'_>) -> Vec<String> {
    py.detach(serial::available_ports)
}

/// The Performax controllers libusb sees: `serial`, `url`, `bus`, `address`, and `problem` (why it
/// cannot be opened and what to do; None when it opened).
#[pyfunction]
fn usb_devices<'py>(py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let devices = py.detach(usb::list_devices).map_err(|e| transport_class(&e).err(e.to_string()))?;
    devices
        .into_iter()
        .map(|d| {
            let out = PyDict::new(py);
            out.set_item("url", d.url())?;
            out.set_item("serial", &d.serial)?;
            out.set_item("bus", d.bus)?;
            out.set_item("address", d.address)?;
            out.set_item("problem", &d.problem)?;
            Ok(out)
        })
        .collect()
}

/// The controllers PerformaxCom.dll sees (`dll`: the file or its folder, as `?dll=`; None: the
/// configured folder, then the OS search): `index`, `serial`, `description`, `url`.
#[pyfunction]
#[pyo3(signature = (dll = None))]
fn performax_devices<'py>(py: Python<'py>, dll: Option<String>) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let devices = py.detach(|| performax::list_devices(dll.as_deref())).map_err(|e| transport_class(&e).err(e.to_string()))?;
    devices
        .into_iter()
        .map(|d| {
            let out = PyDict::new(py);
            out.set_item("index", d.index)?;
            out.set_item("serial", &d.serial)?;
            out.set_item("description", &d.description)?;
            out.set_item("url", d.url())?;
            Ok(out)
        })
        .collect()
}

/// The USB link's model of one command's round trip (ns): two 1 ms frames plus `turnaround_ns`.
#[pyfunction]
#[pyo3(signature = (turnaround_ns = 0))]
fn usb_round_trip_model_ns(turnaround_ns: i64) -> i64 {
    usb_round_trip_ns(turnaround_ns)
}

/// The board's timing model: the round trip of `m<n_avg>*` with a data line of `data_bytes` at
/// `baud` (the legacy two-rate fit; 1.5 Mbaud by default).
#[pyfunction]
#[pyo3(signature = (n_avg, data_bytes = 70, baud = 1_500_000))]
fn board_round_trip_model_ns(n_avg: u32, data_bytes: usize, baud: u32) -> PyResult<i64> {
    if !(1..=255).contains(&n_avg) || baud == 0 {
        return Err(PyValueError::new_err(format!("n_avg must be 1..=255 and baud > 0 (got {n_avg}, {baud})")));
    }
    let timing = BoardTiming { baud, ..BoardTiming::legacy_fit() };
    Ok(timing.round_trip_ns(n_avg, data_bytes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serial_ports, m)?)?;
    m.add_function(wrap_pyfunction!(usb_devices, m)?)?;
    m.add_function(wrap_pyfunction!(performax_devices, m)?)?;
    m.add_function(wrap_pyfunction!(usb_round_trip_model_ns, m)?)?;
    m.add_function(wrap_pyfunction!(board_round_trip_model_ns, m)?)?;
    Ok(())
}
