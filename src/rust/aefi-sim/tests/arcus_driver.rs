//! The Arcus driver against the in-process simulator: arguments refused before sending, the
//! wire limit, errors that name port and command.
use aefi_scan_engine::arcus::driver::{ArcusController, ArcusError, Speeds};
use aefi_scan_engine::arcus::protocol::{Axis, ControllerError};
use aefi_sim::opener::BenchOpener;
use std::time::Duration;

fn sim(name: &str) -> ArcusController {
    ArcusController::open(&BenchOpener, &format!("sim://{name}?timing=none"), Duration::from_millis(200)).unwrap()
}

#[test]
fn bad_arguments_refused_before_sending() {
    let mut c = sim("driver-bad-args");
    let e = c.set_speeds(Axis::X, Some(0), None, None, None).unwrap_err();
    assert!(e.to_string().contains("high_speed_pps"), "{e}");
    let e = c.set_speeds(Axis::X, Some(100), Some(200), None, None).unwrap_err();
    assert!(e.to_string().contains("low_speed_pps"), "{e}");
    assert!(c.home(Axis::X, false, 7).is_err());
    assert!(c.move_abs(Axis::X, 1 << 40).is_err());
    assert!(c.query("P X").is_err());
    assert_eq!(c.speeds(Axis::X).unwrap(), Speeds { high_speed_pps: 1000, low_speed_pps: 100, accel_ms: 300, decel_ms: 300 });
}

#[test]
fn wire_limit_of_a_9600_link() {
    let c = ArcusController::open(&BenchOpener, "sim://driver-wire?timing=none&baud=9600", Duration::from_millis(200)).unwrap();
    // notes §6: 12 bytes at 9600 → ≤ 80 polls/s.
    assert!((c.wire_limit_hz().unwrap() - 80.0).abs() < 1e-9);
}

#[test]
fn errors_name_port_and_command() {
    let mut c = sim("driver-errors");
    let e = c.query("ID").unwrap_err();
    assert!(matches!(&e, ArcusError::Controller { error: ControllerError::UnknownCommand(t), .. } if t == "ID"));
    assert_eq!(e.to_string(), "ID on sim://driver-errors: controller answered ?ID");
}
