//! `performax://` end to end over the fake PerformaxCom library built from this crate: the
//! transport loads it with libloading exactly as it loads the vendor's DLL, so these tests run the
//! real code path (load, the seven calls, SetTimeouts → Open → Flush, one SendRecv(64, 64) per
//! command, Close on drop, every call on the DLL's one thread).
//!
//! The library is found next to this test executable (cargo builds the crate's cdylib before its
//! integration tests), or at `AEFI_FAKE_PERFORMAX_DLL` when set (a library built elsewhere, e.g.
//! the `.dll` on Windows CI). Four devices; each test uses its own, since a device has one
//! opener at a time and tests run in parallel.
use std::path::PathBuf;
use std::time::Duration;

use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::framing::{usb_round_trip_ns, Framing};
use aefi_scan_engine::arcus::protocol::Axis;
use aefi_scan_engine::transport::performax::{list_devices, PerformaxLink};
use aefi_scan_engine::transport::{ByteLink, HardwareOpener, PerformaxDevice};
use aefi_sim::conformance::check_controller;

fn fake_library() -> PathBuf {
    if let Some(p) = std::env::var_os("AEFI_FAKE_PERFORMAX_DLL") {
        return PathBuf::from(p);
    }
    let name = libloading::library_filename("aefi_performax_fake");
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join(&name), deps.parent().unwrap().join(&name)]
        .into_iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("{name:?} not found next to {}", exe.display()))
}

fn url(device: &str) -> String {
    format!("performax://{device}?dll={}", fake_library().display())
}

fn open(device: &str) -> ArcusController {
    ArcusController::open(&HardwareOpener, &url(device), Duration::from_secs(1)).unwrap()
}

#[test]
fn the_driver_conforms_over_the_dll_by_index() {
    let mut c = open("0");
    assert_eq!(c.port(), "performax://4ex00");
    assert_eq!(c.framing(), Framing::Usb);
    let r = check_controller(&mut c, Some("4EX00")).unwrap();
    // The fake answers on the USB model (two 1 ms frames + the 200 µs turnaround): no round trip
    // is shorter, and the transport's own cost (one hop to the DLL's thread) is what remains.
    let model = usb_round_trip_ns(200_000);
    assert!(r.round_trips_ns.iter().all(|&t| t >= model), "{:?} below the model {model}", r.round_trips_ns);
    eprintln!("performax round trip: median {} ns (model {model} ns)", r.median_round_trip_ns());
}

#[test]
fn the_driver_conforms_over_the_dll_by_serial_string() {
    let mut c = open("4EX01");
    assert_eq!(c.port(), "performax://4ex01");
    check_controller(&mut c, Some("4EX01")).unwrap();
}

#[test]
fn one_opener_per_device_close_on_drop_and_bad_packets_refused() {
    let first = open("3");
    let e = ArcusController::open(&HardwareOpener, &url("4ex03"), Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("is busy") && e.to_string().contains("performax://4ex03"), "{e}");
    drop(first);
    // Close ran on drop: the device opens again, here as a bare link.
    let mut link =
        PerformaxLink::open(&PerformaxDevice::Serial("4ex03".into()), fake_library().to_str(), Duration::from_millis(500)).unwrap();
    // A frame that is not one NUL-terminated packet of at most 64 bytes never reaches the DLL.
    assert!(link.write_frame(b"PX").is_err());
    assert!(link.write_frame(&[b'X'; 65]).is_err());
    let t_send = link.write_frame(&Framing::Usb.encode("DN").unwrap()).unwrap();
    let (reply, t_recv) = link.read_until(0, t_send + 1_000_000_000).unwrap();
    assert_eq!(reply, b"4EX03\0");
    assert!(t_recv > t_send);
    drop(link);
    let mut c = open("3");
    let e = c.query(&"X".repeat(64)).unwrap_err();
    assert!(e.to_string().contains("too long"), "{e}");
    assert_eq!(c.query("DN").unwrap(), "4EX03");
}

#[test]
fn the_dll_is_called_from_one_thread_whatever_thread_uses_the_link() {
    let dll = fake_library();
    let mut c = open("2");
    c.position(Axis::X).unwrap();
    // Moved to another thread, used there, dropped on a third.
    let c = std::thread::spawn(move || {
        c.position(Axis::Y).unwrap();
        c
    })
    .join()
    .unwrap();
    std::thread::spawn(move || drop(c)).join().unwrap();
    let listed = std::thread::spawn(move || list_devices(Some(dll.to_str().unwrap())).unwrap()).join().unwrap();
    assert_eq!(listed.len(), 4);
    // SAFETY: the test library's own counter, `extern "C" fn() -> u32`, read through the same
    // (already loaded, never unloaded) library.
    let threads = unsafe {
        let lib = libloading::Library::new(fake_library()).unwrap();
        let f: libloading::Symbol<extern "C" fn() -> u32> = lib.get(b"aefi_fake_performax_caller_threads\0").unwrap();
        f()
    };
    assert_eq!(threads, 1, "the fake was called from {threads} threads");
}

#[test]
fn devices_are_listed_and_a_missing_one_names_those_present() {
    let dll = fake_library();
    let devices = list_devices(Some(dll.to_str().unwrap())).unwrap();
    let urls: Vec<String> = devices.iter().map(|d| d.url()).collect();
    assert_eq!(urls, ["performax://4ex00", "performax://4ex01", "performax://4ex02", "performax://4ex03"]);
    assert!(devices.iter().all(|d| d.description == "Performax USB"));
    for missing in ["7", "4ex42"] {
        let e = ArcusController::open(&HardwareOpener, &url(missing), Duration::from_secs(1)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("not found") && text.contains("performax://4ex00, performax://4ex01"), "{text}");
    }
}

#[test]
fn the_vendor_file_name_is_found_in_the_given_folder_and_in_the_configured_one() {
    // A copy of the fake under the vendor's file name: a library of its own (its own devices).
    let dir = std::env::temp_dir().join(format!("aefi-performax-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vendor_name = aefi_scan_engine::transport::performax::library_file_name();
    std::fs::copy(fake_library(), dir.join(&vendor_name)).unwrap();
    let mut c = ArcusController::open(&HardwareOpener, &format!("performax://0?dll={}", dir.display()), Duration::from_secs(1)).unwrap();
    assert_eq!(c.query("DN").unwrap(), "4EX00");
    drop(c);
    // No dll=: the folder in AEFI_PERFORMAX_DLL_DIR (the other tests all name their library).
    std::env::set_var(aefi_scan_engine::transport::performax::DLL_DIR_ENV, &dir);
    let mut c = ArcusController::open(&HardwareOpener, "performax://4ex01", Duration::from_secs(1)).unwrap();
    assert_eq!(c.query("DN").unwrap(), "4EX01");
}
