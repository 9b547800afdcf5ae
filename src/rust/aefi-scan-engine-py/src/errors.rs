//! The Python exception tree of `_engine`, declared once, and the one mapping of every core error
//! onto it. Nothing else in the bindings builds an exception out of a Rust error.
//!
//! ```text
//! AefiError(Exception)
//! ├── LinkError                       transport: open/read/write failures
//! │   ├── PortBusyError               another owner holds the port (exclusive open, or lent to a scan)
//! │   ├── PortNotFoundError           no such port; the message lists the ports that exist
//! │   ├── LinkTimeoutError(+TimeoutError)  no (complete) reply before the deadline
//! │   └── UsbUnavailableError         libusb/USB cannot be used on this machine
//! ├── ProtocolError                   a reply that does not parse (garbled, truncated, unexpected)
//! ├── ControllerError                 the Arcus refused (`?…`), an axis latched or stopped short
//! │                                   (attributes `code`, e.g. "LIMIT", and `axis` or None)
//! ├── BoardError                      the acquisition board refused or answered nonsense
//! ├── PlanError(+ValueError)          a flyscan plan refused before any motion (attribute `field`)
//! ├── InvalidArgumentError(+ValueError)  an argument refused before anything is sent (a bad URL, value)
//! ├── WaitTimeoutError(+TimeoutError) an axis still moving at a wait's deadline
//! ├── ScanAbortedError                a verb ended by an abort request (prepare's move, ...)
//! ├── ScanStateError                  a scan verb called out of order (kickoff before prepare, ...)
//! └── SimulatorError(+OSError)        a simulator could not be served (PTY, socket)
//! ```
//! The classes with a second base keep `except TimeoutError` / `except ValueError` / `except
//! OSError` callers working. Every class is built at import by `type(name, bases, ns)`, the
//! same way for all, and kept here.
use aefi_scan_engine::arcus::driver::ArcusError;
use aefi_scan_engine::board::driver::BoardError;
use aefi_scan_engine::engine::detector::DetectorErrorKind;
use aefi_scan_engine::engine::fault::{AxisRefusal, ScanFault};
use aefi_scan_engine::engine::plan::Axis;
use aefi_scan_engine::engine::stage::StageErrorKind;
use aefi_scan_engine::lease::LeaseError;
use aefi_scan_engine::transport::TransportError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// Every exception class of `_engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exc {
    Aefi,
    Link,
    PortBusy,
    PortNotFound,
    LinkTimeout,
    UsbUnavailable,
    Protocol,
    Controller,
    Board,
    Plan,
    InvalidArgument,
    WaitTimeout,
    ScanAborted,
    ScanState,
    Simulator,
}

impl Exc {
    /// Every class, parents before children (the order they are built in).
    pub const ALL: [Exc; 15] = [
        Exc::Aefi,
        Exc::Link,
        Exc::PortBusy,
        Exc::PortNotFound,
        Exc::LinkTimeout,
        Exc::UsbUnavailable,
        Exc::Protocol,
        Exc::Controller,
        Exc::Board,
        Exc::Plan,
        Exc::InvalidArgument,
        Exc::WaitTimeout,
        Exc::ScanAborted,
        Exc::ScanState,
        Exc::Simulator,
    ];

    /// The Python class name.
    pub fn name(self) -> &'static str {
        match self {
            Exc::Aefi => "AefiError",
            Exc::Link => "LinkError",
            Exc::PortBusy => "PortBusyError",
            Exc::PortNotFound => "PortNotFoundError",
            Exc::LinkTimeout => "LinkTimeoutError",
            Exc::UsbUnavailable => "UsbUnavailableError",
            Exc::Protocol => "ProtocolError",
            Exc::Controller => "ControllerError",
            Exc::Board => "BoardError",
            Exc::Plan => "PlanError",
            Exc::InvalidArgument => "InvalidArgumentError",
            Exc::WaitTimeout => "WaitTimeoutError",
            Exc::ScanAborted => "ScanAbortedError",
            Exc::ScanState => "ScanStateError",
            Exc::Simulator => "SimulatorError",
        }
    }

    /// The class in this tree it derives from (None for the root).
    pub fn parent(self) -> Option<Exc> {
        match self {
            Exc::Aefi => None,
            Exc::PortBusy | Exc::PortNotFound | Exc::LinkTimeout | Exc::UsbUnavailable => Some(Exc::Link),
            _ => Some(Exc::Aefi),
        }
    }

    /// The built-in exception it also derives from.
    pub fn builtin_base(self) -> Option<&'static str> {
        match self {
            Exc::Aefi => Some("Exception"),
            Exc::LinkTimeout | Exc::WaitTimeout => Some("TimeoutError"),
            Exc::Plan | Exc::InvalidArgument => Some("ValueError"),
            Exc::Simulator => Some("OSError"),
            _ => None,
        }
    }

    fn doc(self) -> &'static str {
        match self {
            Exc::Aefi => "Base class of every error raised by the AEFI engine.",
            Exc::Link => "A link (serial, TCP, USB, simulator) failed.",
            Exc::PortBusy => "The port is held by another owner.",
            Exc::PortNotFound => "The port does not exist.",
            Exc::LinkTimeout => "No complete reply before the deadline.",
            Exc::UsbUnavailable => "USB cannot be used on this machine.",
            Exc::Protocol => "A reply that does not parse.",
            Exc::Controller => "The Arcus controller refused (`?...`), or an axis latched an error or stopped short; `code`, `axis`.",
            Exc::Board => "The acquisition board refused a command or answered nonsense.",
            Exc::Plan => "A flyscan plan refused before any motion; `field` names the bad parameter.",
            Exc::InvalidArgument => "An argument refused before anything was sent.",
            Exc::WaitTimeout => "An axis was still moving at the deadline of a wait.",
            Exc::ScanAborted => "An abort request ended the scan verb.",
            Exc::ScanState => "A scan verb called in a state that does not allow it.",
            Exc::Simulator => "A simulator could not be served.",
        }
    }

    /// The class object (built at import).
    pub fn class<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyType>> {
        let classes = CLASSES.get_or_try_init(py, || build_classes(py))?;
        Ok(classes[self as usize].bind(py).clone())
    }

    /// A new exception of this class.
    pub fn err(self, message: impl Into<String>) -> PyErr {
        let message = message.into();
        Python::attach(|py| match self.class(py) {
            Ok(cls) => PyErr::from_type(cls, (message,)),
            Err(e) => e,
        })
    }
}

static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn build_classes(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let builtins = py.import("builtins")?;
    let type_ = builtins.getattr("type")?;
    let mut built: Vec<Py<PyType>> = Vec::with_capacity(Exc::ALL.len());
    for exc in Exc::ALL {
        let mut bases = Vec::new();
        if let Some(p) = exc.parent() {
            bases.push(built[p as usize].bind(py).clone().into_any());
        }
        if let Some(b) = exc.builtin_base() {
            bases.push(builtins.getattr(b)?);
        }
        let ns = PyDict::new(py);
        ns.set_item("__module__", "pymodaq_plugins_aefi._engine")?;
        ns.set_item("__doc__", exc.doc())?;
        let cls = type_.call1((exc.name(), PyTuple::new(py, bases)?, ns))?.cast_into::<PyType>()?;
        built.push(cls.unbind());
    }
    Ok(built)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for exc in Exc::ALL {
        m.add(exc.name(), exc.class(m.py())?)?;
    }
    Ok(())
}

/// An exception with attributes (best effort: a failing `setattr` leaves the plain exception).
fn with_attrs(err: PyErr, attrs: &[(&str, Option<String>)]) -> PyErr {
    Python::attach(|py| {
        let value = err.value(py);
        for (name, v) in attrs {
            let _ = value.setattr(*name, v.clone());
        }
    });
    err
}

/// A `ControllerError` with its `code` and `axis`.
fn controller_error(message: String, code: &str, axis: Option<Axis>) -> PyErr {
    with_attrs(Exc::Controller.err(message), &[("code", Some(code.to_string())), ("axis", axis.map(|a| a.letter().to_string()))])
}

/// A `PlanError` naming the refused field.
pub fn plan_error(field: &str, message: impl Into<String>) -> PyErr {
    with_attrs(Exc::Plan.err(message), &[("field", Some(field.to_string()))])
}

/// An argument refused by the bindings before anything is sent.
pub fn invalid_argument(message: impl Into<String>) -> PyErr {
    Exc::InvalidArgument.err(message)
}

/// A simulator that could not be served (PTY, socket, its thread).
pub fn simulator_error(message: impl Into<String>) -> PyErr {
    Exc::Simulator.err(message)
}

/// A scan verb out of order.
pub fn scan_state_error(message: impl Into<String>) -> PyErr {
    Exc::ScanState.err(message)
}

/// The class of a transport failure.
pub fn transport_class(e: &TransportError) -> Exc {
    match e {
        TransportError::PortBusy { .. } => Exc::PortBusy,
        TransportError::PortNotFound { .. } | TransportError::Refused { .. } => Exc::PortNotFound,
        TransportError::Timeout { .. } => Exc::LinkTimeout,
        TransportError::UsbUnavailable { .. } => Exc::UsbUnavailable,
        TransportError::BadUrl { .. } => Exc::InvalidArgument,
        TransportError::Disconnected { .. } | TransportError::Io { .. } => Exc::Link,
    }
}

/// The class of an Arcus driver error.
pub fn arcus_class(e: &ArcusError) -> Exc {
    match e {
        ArcusError::Transport { source, .. } => transport_class(source),
        ArcusError::Protocol { .. } => Exc::Protocol,
        ArcusError::Controller { .. } => Exc::Controller,
        ArcusError::InvalidArgument { .. } => Exc::InvalidArgument,
        ArcusError::WaitTimeout { .. } => Exc::WaitTimeout,
    }
}

/// The exception of an Arcus driver error; `ControllerError.code` is the reply without `?`.
pub fn arcus_error(e: ArcusError) -> PyErr {
    let message = e.to_string();
    match &e {
        ArcusError::Controller { error, .. } => controller_error(message, error.code(), None),
        _ => arcus_class(&e).err(message),
    }
}

/// The class of a board driver error.
pub fn board_class(e: &BoardError) -> Exc {
    match e {
        BoardError::Link(source) => transport_class(source),
        BoardError::Protocol { .. } => Exc::Board,
        BoardError::Config { .. } => Exc::InvalidArgument,
    }
}

/// The exception of a board driver error.
pub fn board_error(e: BoardError) -> PyErr {
    board_class(&e).err(e.to_string())
}

/// The class of a link that cannot be used now.
pub fn lease_class(e: &LeaseError) -> Exc {
    match e {
        LeaseError::Lent { .. } => Exc::PortBusy,
        LeaseError::Closed => Exc::Link,
    }
}

/// The exception of a link that cannot be used now: lent to a scan (`PortBusyError` naming the
/// borrower) or closed (`LinkError`).
pub fn lease_error(e: LeaseError, url: &str) -> PyErr {
    let message = match &e {
        LeaseError::Lent { borrower } => format!("{url} is lent to {borrower}; it comes back when that scan ends"),
        LeaseError::Closed => format!("{url} is closed"),
    };
    lease_class(&e).err(message)
}

/// The class of a scan fault (also the `type` a failed scan's statistics report).
pub fn scan_fault_class(f: &ScanFault) -> Exc {
    match f {
        ScanFault::Plan(_) => Exc::Plan,
        ScanFault::AxisRefused { .. } | ScanFault::AxisLatched { .. } | ScanFault::EncoderSlip(_) => Exc::Controller,
        ScanFault::Stage(e) => match e.kind {
            StageErrorKind::Timeout => Exc::LinkTimeout,
            StageErrorKind::Link => Exc::Link,
            StageErrorKind::Busy => Exc::PortBusy,
            StageErrorKind::Protocol => Exc::Protocol,
            StageErrorKind::Controller => Exc::Controller,
        },
        ScanFault::Detector(e) => match e.kind {
            DetectorErrorKind::Link => Exc::Link,
            DetectorErrorKind::Device => Exc::Board,
            DetectorErrorKind::Sample => Exc::Aefi,
        },
        ScanFault::Aborted => Exc::ScanAborted,
        ScanFault::Lifecycle(_) => Exc::ScanState,
        ScanFault::Engine(_) => Exc::Aefi,
    }
}

/// The exception of a scan fault, with the attributes of its class (`field`, `code`, `axis`).
pub fn scan_fault_error(f: &ScanFault) -> PyErr {
    let message = f.to_string();
    match f {
        ScanFault::Plan(p) => plan_error(&p.field, message),
        ScanFault::AxisRefused { axis, refusal: AxisRefusal::Latched(latch) } | ScanFault::AxisLatched { axis, latch, .. } => {
            controller_error(message, latch.code(), Some(*axis))
        }
        ScanFault::AxisRefused { axis, refusal: AxisRefusal::Moving } => controller_error(message, "PULSING", Some(*axis)),
        ScanFault::EncoderSlip(e) => controller_error(message, "SLIP", Some(e.axis)),
        ScanFault::Stage(e) if e.kind == StageErrorKind::Controller => controller_error(message, e.code.as_deref().unwrap_or(""), None),
        _ => scan_fault_class(f).err(message),
    }
}

#[cfg(test)]
mod tests {
    //! One test per variant of each core error: the class it becomes. (The classes themselves,
    //! their bases and attributes, are checked from Python: tests/test_engine_errors.py.)
    use super::*;
    use aefi_scan_engine::arcus::protocol::ControllerError as ArcusRefusal;
    use aefi_scan_engine::board::protocol::BoardProtocolError;
    use aefi_scan_engine::board::registers::ConfigError;
    use aefi_scan_engine::engine::detector::DetectorError;
    use aefi_scan_engine::engine::plan::PlanError;
    use aefi_scan_engine::engine::stage::{Latch, StageError};

    fn timeout() -> TransportError {
        TransportError::Timeout { port: "p".into(), waited_ms: 50.0, partial: String::new() }
    }

    #[test]
    fn the_tree_has_one_root_and_dual_bases_where_callers_need_them() {
        for exc in Exc::ALL {
            // parents come first, so the tree can be built in order
            if let Some(p) = exc.parent() {
                assert!((p as usize) < (exc as usize), "{exc:?}");
            }
            assert_eq!(exc.parent().is_none(), exc == Exc::Aefi);
            assert!(exc.name().ends_with("Error"));
        }
        assert_eq!(Exc::LinkTimeout.builtin_base(), Some("TimeoutError"));
        assert_eq!(Exc::WaitTimeout.builtin_base(), Some("TimeoutError"));
        assert_eq!(Exc::Plan.builtin_base(), Some("ValueError"));
        assert_eq!(Exc::InvalidArgument.builtin_base(), Some("ValueError"));
        assert_eq!(Exc::Simulator.builtin_base(), Some("OSError"));
        assert!(Exc::ALL.iter().enumerate().all(|(i, e)| *e as usize == i));
    }

    #[test]
    fn transport_errors() {
        let cases = [
            (TransportError::PortNotFound { port: "p".into(), available: vec![] }, Exc::PortNotFound),
            (TransportError::PortBusy { port: "p".into(), detail: "d".into() }, Exc::PortBusy),
            (timeout(), Exc::LinkTimeout),
            (TransportError::Disconnected { port: "p".into(), detail: "d".into() }, Exc::Link),
            (TransportError::UsbUnavailable { detail: "d".into() }, Exc::UsbUnavailable),
            (TransportError::BadUrl { url: "u".into(), reason: "r".into() }, Exc::InvalidArgument),
            (TransportError::io("p", std::io::Error::other("x")), Exc::Link),
        ];
        for (e, exc) in cases {
            assert_eq!(transport_class(&e), exc, "{e}");
        }
    }

    #[test]
    fn arcus_errors() {
        let cases = [
            (ArcusError::Transport { port: "p".into(), command: "PX".into(), source: timeout() }, Exc::LinkTimeout),
            (
                ArcusError::Protocol {
                    port: "p".into(),
                    command: "PX".into(),
                    source: aefi_scan_engine::arcus::protocol::ProtocolError::Empty,
                },
                Exc::Protocol,
            ),
            (ArcusError::Controller { port: "p".into(), command: "X1".into(), error: ArcusRefusal::Limit }, Exc::Controller),
            (ArcusError::InvalidArgument { parameter: "axis".into(), message: "m".into() }, Exc::InvalidArgument),
            (ArcusError::WaitTimeout { port: "p".into(), axes: "X".into(), waited_s: 1.0 }, Exc::WaitTimeout),
        ];
        for (e, exc) in cases {
            assert_eq!(arcus_class(&e), exc, "{e}");
        }
    }

    #[test]
    fn board_errors() {
        assert_eq!(board_class(&BoardError::Link(timeout())), Exc::LinkTimeout);
        let protocol =
            BoardError::Protocol { port: "p".into(), source: BoardProtocolError::TooFewCodes { got: 5, expected: 8, line: "l".into() } };
        assert_eq!(board_class(&protocol), Exc::Board);
        let config = BoardError::Config {
            port: "p".into(),
            source: ConfigError { parameter: "osr".into(), value: "3".into(), allowed: "a".into() },
        };
        assert_eq!(board_class(&config), Exc::InvalidArgument);
    }

    #[test]
    fn lease_errors() {
        assert_eq!(lease_class(&LeaseError::Lent { borrower: "flyscan".into() }), Exc::PortBusy);
        assert_eq!(lease_class(&LeaseError::Closed), Exc::Link);
    }

    #[test]
    fn scan_faults() {
        let latch = Latch { plus_limit: true, ..Latch::default() };
        let stage = |kind| ScanFault::Stage(StageError::new(kind, "m"));
        let detector = |kind| ScanFault::Detector(DetectorError { message: "m".into(), fatal: true, kind });
        let cases = [
            (ScanFault::Plan(PlanError::new("lines", "m")), Exc::Plan),
            (ScanFault::AxisRefused { axis: Axis::Y, refusal: AxisRefusal::Latched(latch) }, Exc::Controller),
            (ScanFault::AxisRefused { axis: Axis::X, refusal: AxisRefusal::Moving }, Exc::Controller),
            (ScanFault::AxisLatched { axis: Axis::X, latch, at_steps: 0, step_um: 21.8 }, Exc::Controller),
            (
                ScanFault::EncoderSlip(aefi_scan_engine::engine::encoder::SlipError {
                    axis: Axis::X,
                    pulse_before_steps: 10,
                    pulse_after_steps: 40,
                    encoder_steps: 5.0,
                    encoder_counts: 13,
                    slip_steps: 35.0,
                    max_slip_steps: 16.0,
                }),
                Exc::Controller,
            ),
            (stage(StageErrorKind::Timeout), Exc::LinkTimeout),
            (stage(StageErrorKind::Link), Exc::Link),
            (stage(StageErrorKind::Busy), Exc::PortBusy),
            (stage(StageErrorKind::Protocol), Exc::Protocol),
            (stage(StageErrorKind::Controller), Exc::Controller),
            (detector(DetectorErrorKind::Link), Exc::Link),
            (detector(DetectorErrorKind::Device), Exc::Board),
            (detector(DetectorErrorKind::Sample), Exc::Aefi),
            (ScanFault::Aborted, Exc::ScanAborted),
            (ScanFault::lifecycle("m"), Exc::ScanState),
            (ScanFault::engine("m"), Exc::Aefi),
        ];
        for (f, exc) in cases {
            assert_eq!(scan_fault_class(&f), exc, "{f:?}");
        }
    }
}
