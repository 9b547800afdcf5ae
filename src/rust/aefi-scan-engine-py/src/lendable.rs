//! The lendable-link plumbing every controller class shares (`ArcusController`,
//! `BoardController`): the URL it was opened with and the core driver in a lendable slot
//! (`lease::Shared`), calls on it with the GIL released, and the Python members that only look
//! at the slot (`url`, `is_open`, `is_lent`, `borrower`, `close`, the context manager, `repr`).
//!
//! Invariant: while the link is lent, every call raises `PortBusyError` naming the borrower.
use aefi_scan_engine::lease::Shared;
use pyo3::prelude::*;

use crate::errors::lease_error;

/// An open link (`url`) whose driver can be lent to a scan.
pub(crate) struct Lendable<T> {
    url: String,
    /// How lease errors name the link (the URL, or "board on URL").
    label: String,
    shared: Shared<T>,
}

impl<T: Send> Lendable<T> {
    /// Puts the driver opened on `url` in a lendable slot.
    pub(crate) fn new(url: String, driver: T) -> Self {
        Self { label: url.clone(), url, shared: Shared::new(driver) }
    }

    /// As [`Lendable::new`], lease errors naming the link `label` (e.g. "board on URL").
    pub(crate) fn labelled(label: String, url: String, driver: T) -> Self {
        Self { label, url, shared: Shared::new(driver) }
    }

    /// How errors name the link.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The URL it was opened with.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The lendable slot holding the open driver.
    pub(crate) fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    /// Runs `f` on the driver with the GIL released; a lease error (lent, closed) and the
    /// driver's own error (through `driver_error`) become Python exceptions.
    pub(crate) fn run<R: Send, E: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> Result<R, E> + Send,
        driver_error: impl FnOnce(E) -> PyErr,
    ) -> PyResult<R> {
        let shared = self.shared.clone();
        py.detach(move || shared.with(f)).map_err(|e| lease_error(e, &self.label))?.map_err(driver_error)
    }

    /// Closes the link (PortBusyError while it is lent).
    pub(crate) fn close(&self) -> PyResult<()> {
        self.shared.close().map_err(|e| lease_error(e, &self.label))
    }

    /// `Class("url", open | lent to WHO | closed)`.
    pub(crate) fn repr(&self, class: &str) -> String {
        let state = match self.shared.borrower() {
            Some(b) => format!("lent to {b}"),
            None if self.shared.is_open() => "open".into(),
            None => "closed".into(),
        };
        format!("{class}({:?}, {state})", self.url)
    }
}

/// The `#[pymethods]` block of a controller class whose `link` field is a [`Lendable`]: the
/// members every such class has, then the class's own `$methods`. `$class_name` is its Python
/// name (used by `repr`).
macro_rules! lendable_pymethods {
    ($class:ident, $class_name:literal, { $($methods:tt)* }) => {
        #[pymethods]
        impl $class {
            /// The URL it was opened with.
            #[getter]
            fn url(&self) -> String {
                self.link.url().to_owned()
            }

            /// Open (home or lent), i.e. not closed.
            #[getter]
            fn is_open(&self) -> bool {
                self.link.shared().is_open()
            }

            /// Lent to a scan right now.
            #[getter]
            fn is_lent(&self) -> bool {
                self.link.shared().borrower().is_some()
            }

            /// Who has the link while it is lent.
            #[getter]
            fn borrower(&self) -> Option<String> {
                self.link.shared().borrower()
            }

            /// Closes the link (PortBusyError while it is lent).
            fn close(&self) -> PyResult<()> {
                self.link.close()
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            #[pyo3(signature = (*_exc))]
            fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
                self.link.close()?;
                Ok(false)
            }

            fn __repr__(&self) -> String {
                self.link.repr($class_name)
            }

            $($methods)*
        }
    };
}

pub(crate) use lendable_pymethods;
