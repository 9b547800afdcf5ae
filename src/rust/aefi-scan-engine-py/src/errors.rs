//! The Python exception tree of `_engine`, declared once, and the conversions of core errors.
//!
//! ```text
//! AefiError(Exception)
//! ├── LinkError                 transport: open/read/write failures
//! │   ├── PortBusyError         another owner holds the port (exclusive open, or lent to a scan)
//! │   ├── PortNotFoundError     no such port; the message lists the ports that exist
//! │   ├── LinkTimeoutError      no (complete) reply before the deadline
//! │   └── UsbUnavailableError   libusb/USB cannot be used on this machine
//! ├── ProtocolError             a reply that does not parse (garbled, truncated, unexpected)
//! ├── ControllerError           the Arcus answered `?…` (attribute `code`, e.g. "LIMIT")
//! ├── BoardError                the acquisition board reported or caused an error
//! ├── PlanError(+ValueError)    a flyscan plan refused before any motion (attribute `field`)
//! └── ScanAbortedError          a scan ended by an abort request
//! ```
//! Each layer's binding file converts its core error with one function here; nothing else
//! creates Python exceptions.
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

create_exception!(pymodaq_plugins_aefi._engine, AefiError, PyException, "Base class of every error raised by the AEFI engine.");
create_exception!(pymodaq_plugins_aefi._engine, LinkError, AefiError, "A link (serial, TCP, USB, simulator) failed.");
create_exception!(pymodaq_plugins_aefi._engine, PortBusyError, LinkError, "The port is held by another owner.");
create_exception!(pymodaq_plugins_aefi._engine, PortNotFoundError, LinkError, "The port does not exist.");
create_exception!(pymodaq_plugins_aefi._engine, LinkTimeoutError, LinkError, "No complete reply before the deadline.");
create_exception!(pymodaq_plugins_aefi._engine, UsbUnavailableError, LinkError, "USB cannot be used on this machine.");
create_exception!(pymodaq_plugins_aefi._engine, ProtocolError, AefiError, "A reply that does not parse.");
create_exception!(pymodaq_plugins_aefi._engine, ControllerError, AefiError, "The Arcus controller answered with an error (`?...`).");
create_exception!(pymodaq_plugins_aefi._engine, BoardError, AefiError, "The acquisition board failed.");
create_exception!(pymodaq_plugins_aefi._engine, ScanAbortedError, AefiError, "The scan was aborted.");

// PlanError is both an AefiError and a ValueError, so callers that validate input can catch
// either; create_exception! takes one base, hence the class built at registration.
pyo3::import_exception!(pymodaq_plugins_aefi._engine, PlanError);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, ty) in [
        ("AefiError", py.get_type::<AefiError>()),
        ("LinkError", py.get_type::<LinkError>()),
        ("PortBusyError", py.get_type::<PortBusyError>()),
        ("PortNotFoundError", py.get_type::<PortNotFoundError>()),
        ("LinkTimeoutError", py.get_type::<LinkTimeoutError>()),
        ("UsbUnavailableError", py.get_type::<UsbUnavailableError>()),
        ("ProtocolError", py.get_type::<ProtocolError>()),
        ("ControllerError", py.get_type::<ControllerError>()),
        ("BoardError", py.get_type::<BoardError>()),
        ("ScanAbortedError", py.get_type::<ScanAbortedError>()),
    ] {
        m.add(name, ty)?;
    }
    let builtins = py.import("builtins")?;
    let bases = (py.get_type::<AefiError>(), py.get_type::<PyValueError>());
    let plan_error = builtins.getattr("type")?.call1((
        "PlanError",
        bases,
        [
            ("__module__", "pymodaq_plugins_aefi._engine"),
            ("__doc__", "A flyscan plan refused before any motion; `field` names the bad parameter."),
        ]
        .into_py_dict(py)?,
    ))?;
    m.add("PlanError", plan_error)?;
    Ok(())
}

/// Builds a `PlanError` naming the refused field (sets the `field` attribute).
pub fn plan_error(py: Python<'_>, field: &str, message: &str) -> PyErr {
    let err = PlanError::new_err(message.to_string());
    let _ = err.value(py).setattr("field", field);
    err
}

use pyo3::types::IntoPyDict;

use aefi_scan_engine::arcus::driver::ArcusError;
use aefi_scan_engine::lease::LeaseError;
use aefi_scan_engine::transport::TransportError;

/// The exception of a transport failure (`LinkError` subclasses; a bad URL is a `ValueError`).
pub fn transport_error(e: &TransportError, message: String) -> PyErr {
    match e {
        TransportError::PortBusy { .. } => PortBusyError::new_err(message),
        TransportError::PortNotFound { .. } => PortNotFoundError::new_err(message),
        TransportError::Timeout { .. } => LinkTimeoutError::new_err(message),
        TransportError::UsbUnavailable { .. } => UsbUnavailableError::new_err(message),
        TransportError::BadUrl { .. } => PyValueError::new_err(message),
        TransportError::Disconnected { .. } | TransportError::Io { .. } => LinkError::new_err(message),
    }
}

/// The exception of an Arcus driver error; `ControllerError.code` is the reply without `?`.
pub fn arcus_error(e: ArcusError) -> PyErr {
    let message = e.to_string();
    match &e {
        ArcusError::Transport { source, .. } => transport_error(source, message),
        ArcusError::Protocol { .. } => ProtocolError::new_err(message),
        ArcusError::Controller { error, .. } => {
            let code = error.code().to_string();
            Python::attach(|py| {
                let err = ControllerError::new_err(message);
                let _ = err.value(py).setattr("code", code);
                err
            })
        }
        ArcusError::InvalidArgument { .. } => PyValueError::new_err(message),
        ArcusError::WaitTimeout { .. } => pyo3::exceptions::PyTimeoutError::new_err(message),
    }
}

/// The exception of a link that cannot be used now: lent to a scan (`PortBusyError` naming the
/// borrower) or closed (`LinkError`).
pub fn lease_error(e: LeaseError, url: &str) -> PyErr {
    match e {
        LeaseError::Lent { borrower } => PortBusyError::new_err(format!("{url} is lent to {borrower}; it comes back when that scan ends")),
        LeaseError::Closed => LinkError::new_err(format!("{url} is closed")),
    }
}
