//! `performax://DEVICE[?dll=PATH]`: the PMX-4EX-SA through the vendor's `PerformaxCom.dll` (with
//! `SiUSBXp.dll` beside it), the way the AEFI bench reaches it on Windows (notes arcus-protocol §2,
//! aefi-legacy §2).
//!
//! - The DLL is loaded at run time with `libloading` (never linked), from `?dll=` (the file or its
//!   folder), else from the folder in `AEFI_PERFORMAX_DLL_DIR`, else by name through the OS search.
//!   A 32-bit DLL is refused by name before it is loaded (PE header), and Windows' error 193 at load
//!   says the same.
//! - Its seven functions (`fnPerformaxComGetNumDevices`, `…GetProductString`, `…Open`, `…Close`,
//!   `…SetTimeouts`, `…SendRecv`, `…Flush`; `BOOL __stdcall`, i.e. `extern "system"`) are the only
//!   entry points used. Open is `SetTimeouts` → `Open` → `Flush`; each command is one
//!   `SendRecv(64, 64)` of a NUL-terminated 64-byte packet, stamped with `mono_ns` just before and
//!   just after the call; `Close` when the link is dropped.
//!
//! **Threads.** Every call into one loaded DLL runs on one thread: the DLL's worker, started when the
//! DLL is loaded, which also loads it. A [`PerformaxLink`] can be moved to another thread, or dropped
//! on any thread: its calls are handed to that worker and run there, one at a time, in order. So
//! calls never overlap, even from several links (devices) on the same DLL, and the DLL sees a single
//! calling thread for its whole life. The DLL stays loaded until the process ends (its own threads
//! and the USB driver's state are never torn down under it). `SetTimeouts` is global in the DLL: the
//! worker re-sends it before a call whenever the calling link's timeouts differ from the last ones set.
use std::collections::HashMap;
use std::ffi::{c_void, OsString};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::url::PerformaxDevice;
use super::{ByteLink, TransportError};
use crate::arcus::framing::USB_PACKET_BYTES;
use crate::clock::mono_ns;

/// Environment variable naming the folder that holds `PerformaxCom.dll` (and `SiUSBXp.dll`).
pub const DLL_DIR_ENV: &str = "AEFI_PERFORMAX_DLL_DIR";
/// `fnPerformaxComGetProductString` option: the USB serial string (`4ex00`).
pub const RETURN_SERIAL_NUMBER: u32 = 0;
/// `fnPerformaxComGetProductString` option: the product string (`Performax USB`).
pub const RETURN_DESCRIPTION: u32 = 1;
/// Size of the string buffer `GetProductString` fills (`PERFORMAX_MAX_DEVICE_STRLEN`).
pub const MAX_DEVICE_STRLEN: usize = 256;
/// Write timeout given to `SetTimeouts` (ms): the 1000 ms the Arcus samples and ArcusPerformax.jl
/// recommend; a 64-byte write to a present device takes well under one.
pub const WRITE_TIMEOUT_MS: u32 = 1000;

/// The file name of the library on this OS: `PerformaxCom.dll` (Windows), `libPerformaxCom.so`,
/// `libPerformaxCom.dylib` (no vendor library exists there; the test library takes this name).
pub fn library_file_name() -> OsString {
    libloading::library_filename("PerformaxCom")
}

type Bool = i32;
type Dword = u32;
type Handle = *mut c_void;

/// The seven entry points, copied out of the loaded library (valid while it stays loaded, i.e.
/// for the life of the process: the worker never unloads it).
struct Api {
    _lib: libloading::Library,
    get_num_devices: unsafe extern "system" fn(*mut Dword) -> Bool,
    get_product_string: unsafe extern "system" fn(Dword, *mut c_void, Dword) -> Bool,
    open: unsafe extern "system" fn(Dword, *mut Handle) -> Bool,
    close: unsafe extern "system" fn(Handle) -> Bool,
    set_timeouts: unsafe extern "system" fn(Dword, Dword) -> Bool,
    send_recv: unsafe extern "system" fn(Handle, *mut c_void, Dword, Dword, *mut c_void) -> Bool,
    flush: unsafe extern "system" fn(Handle) -> Bool,
}

fn unavailable(detail: impl std::fmt::Display) -> TransportError {
    TransportError::UsbUnavailable { detail: detail.to_string() }
}

/// What the PE header of a Windows DLL says about its architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DllMachine {
    /// 32-bit x86 (`IMAGE_FILE_MACHINE_I386`).
    X86,
    /// 64-bit x86 (`IMAGE_FILE_MACHINE_AMD64`).
    X64,
    /// 64-bit ARM.
    Arm64,
    /// Another machine code.
    Other(u16),
}

/// The machine a Windows PE image was built for, None when `bytes` is not a PE image (an ELF or
/// Mach-O library, a truncated file).
pub fn pe_machine(bytes: &[u8]) -> Option<DllMachine> {
    if bytes.get(..2)? != b"MZ" {
        return None;
    }
    let pe = u32::from_le_bytes(bytes.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if bytes.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let machine = u16::from_le_bytes(bytes.get(pe + 4..pe + 6)?.try_into().ok()?);
    Some(match machine {
        0x014c => DllMachine::X86,
        0x8664 => DllMachine::X64,
        0xaa64 => DllMachine::Arm64,
        other => DllMachine::Other(other),
    })
}

fn thirty_two_bit(path: &str) -> TransportError {
    unavailable(format!(
        "{path}: this PerformaxCom.dll is 32-bit; a 64-bit Python needs the 64-bit PerformaxCom.dll and SiUSBXp.dll \
         (Arcus ships both; the AEFI bench keeps them in its DLL64 folder)"
    ))
}

/// Refuses a 32-bit PE image in a 64-bit process before anything is loaded.
fn check_bitness(path: &Path) -> Result<(), TransportError> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(()) };
    match pe_machine(&bytes) {
        Some(DllMachine::X86) if cfg!(target_pointer_width = "64") => Err(thirty_two_bit(&path.display().to_string())),
        _ => Ok(()),
    }
}

/// Where to load the library from, in order: `dll` (a file, or a folder holding it), else the
/// folder in [`DLL_DIR_ENV`] when it holds the file, else the bare name (the OS search: on Windows
/// the program's folder, the system folders, PATH).
pub fn resolve_library(dll: Option<&str>) -> Result<OsString, TransportError> {
    if let Some(dll) = dll {
        let p = PathBuf::from(dll);
        let file = if p.is_dir() { p.join(library_file_name()) } else { p };
        if !file.is_file() {
            return Err(unavailable(format!("{}: no such file (dll= names PerformaxCom.dll or its folder)", file.display())));
        }
        return Ok(file.into_os_string());
    }
    if let Some(dir) = std::env::var_os(DLL_DIR_ENV).filter(|d| !d.is_empty()) {
        let file = PathBuf::from(dir).join(library_file_name());
        if file.is_file() {
            return Ok(file.into_os_string());
        }
    }
    Ok(library_file_name())
}

/// The message of a failed load, with what to do about it.
fn load_error(name: &str, e: &libloading::Error) -> TransportError {
    let text = e.to_string();
    if text.contains("os error 193") {
        return thirty_two_bit(name);
    }
    let hint = if cfg!(windows) {
        "put PerformaxCom.dll and SiUSBXp.dll (64-bit) in one folder and give it as ?dll=FOLDER or in AEFI_PERFORMAX_DLL_DIR"
    } else {
        "the vendor library exists for Windows only; on Linux and macOS use usb:// (libusb)"
    };
    unavailable(format!("cannot load {name}: {text}; {hint}"))
}

fn load(name: &OsString) -> Result<Api, TransportError> {
    let shown = name.to_string_lossy().into_owned();
    let path = Path::new(name);
    if path.is_file() {
        check_bitness(path)?;
    }
    #[cfg(windows)]
    let lib = {
        // A full path is loaded with its own folder searched first for its dependencies, so the
        // SiUSBXp.dll next to PerformaxCom.dll is the one used.
        let flags = if path.is_absolute() { libloading::os::windows::LOAD_WITH_ALTERED_SEARCH_PATH } else { 0 };
        // SAFETY: loading runs the DLL's initialisation; PerformaxCom.dll's has no preconditions
        // on the caller, and this is the worker thread that will make every later call.
        unsafe { libloading::os::windows::Library::load_with_flags(name, flags) }.map(libloading::Library::from)
    };
    #[cfg(not(windows))]
    // SAFETY: as above: the library's initialisers have no preconditions on the caller.
    let lib = unsafe { libloading::Library::new(name) };
    let lib = lib.map_err(|e| load_error(&shown, &e))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is one of the documented PerformaxCom.h functions, whose C
            // signature (BOOL __stdcall with DWORD/HANDLE/void* arguments) is the type it is read as.
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| unavailable(format!("{shown} is not PerformaxCom.dll: no {}: {e}", $name)))?
        };
    }
    Ok(Api {
        get_num_devices: sym!("fnPerformaxComGetNumDevices"),
        get_product_string: sym!("fnPerformaxComGetProductString"),
        open: sym!("fnPerformaxComOpen"),
        close: sym!("fnPerformaxComClose"),
        set_timeouts: sym!("fnPerformaxComSetTimeouts"),
        send_recv: sym!("fnPerformaxComSendRecv"),
        flush: sym!("fnPerformaxComFlush"),
        _lib: lib,
    })
}

/// State the worker keeps between calls.
struct WorkerState {
    /// The (read, write) timeouts last given to `SetTimeouts`.
    timeouts_ms: Option<(u32, u32)>,
}

type Job = Box<dyn FnOnce(&Api, &mut WorkerState) + Send>;

/// The thread that owns one loaded DLL and makes every call into it.
struct DllWorker {
    name: String,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl DllWorker {
    /// Runs `f` on the worker and waits for its result.
    fn call<R: Send + 'static>(&self, f: impl FnOnce(&Api, &mut WorkerState) -> R + Send + 'static) -> Result<R, TransportError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |api, st| {
            let _ = tx.send(f(api, st));
        });
        let sent = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send(job);
        sent.map_err(|_| unavailable(format!("{}: its worker thread has ended", self.name)))?;
        rx.recv().map_err(|_| unavailable(format!("{}: a call into it panicked", self.name)))
    }

    /// Sends a job without waiting (the close of a dropped link).
    fn post(&self, f: impl FnOnce(&Api, &mut WorkerState) + Send + 'static) {
        let _ = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send(Box::new(f));
    }
}

/// The worker of the library `name` (loaded by its worker thread on first use; kept for the life
/// of the process).
fn worker_for(name: &OsString) -> Result<Arc<DllWorker>, TransportError> {
    static WORKERS: OnceLock<Mutex<HashMap<OsString, Arc<DllWorker>>>> = OnceLock::new();
    let mut workers = WORKERS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = workers.get(name) {
        return Ok(Arc::clone(w));
    }
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), TransportError>>(1);
    let lib_name = name.clone();
    std::thread::Builder::new()
        .name("performax-dll".into())
        .spawn(move || {
            let api = match load(&lib_name) {
                Ok(api) => {
                    let _ = ready_tx.send(Ok(()));
                    api
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut state = WorkerState { timeouts_ms: None };
            // The registry keeps a sender, so this only ends with the process.
            for job in job_rx {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&api, &mut state)));
            }
        })
        .map_err(|e| unavailable(format!("cannot start the PerformaxCom.dll thread: {e}")))?;
    ready_rx.recv().map_err(|_| unavailable("the PerformaxCom.dll thread ended while loading"))??;
    let worker = Arc::new(DllWorker { name: name.to_string_lossy().into_owned(), jobs: Mutex::new(job_tx) });
    workers.insert(name.clone(), Arc::clone(&worker));
    Ok(worker)
}

/// Reads one product string (`option` = [`RETURN_SERIAL_NUMBER`] or [`RETURN_DESCRIPTION`]).
fn product_string(api: &Api, index: u32, option: u32) -> Option<String> {
    let mut buf = [0u8; MAX_DEVICE_STRLEN];
    // SAFETY: `buf` is a writable buffer of PERFORMAX_MAX_DEVICE_STRLEN bytes, the size the DLL
    // writes a NUL-terminated string into; the index and option are plain values.
    let ok = unsafe { (api.get_product_string)(index, buf.as_mut_ptr().cast(), option) };
    if ok == 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).trim().to_string())
}

fn device_count(api: &Api) -> Option<u32> {
    let mut n: Dword = 0;
    // SAFETY: `n` is a valid, writable DWORD.
    let ok = unsafe { (api.get_num_devices)(&mut n) };
    (ok != 0).then_some(n)
}

/// One device in the DLL's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerformaxInfo {
    /// Index in the list (`performax://INDEX`).
    pub index: u32,
    /// USB serial string, i.e. the device name in lower case (`4ex00`), empty if unreadable.
    pub serial: String,
    /// Product string (`Performax USB`), empty if unreadable.
    pub description: String,
}

impl PerformaxInfo {
    /// The URL of this device (by serial when it has one, else by index).
    pub fn url(&self) -> String {
        if self.serial.is_empty() {
            format!("performax://{}", self.index)
        } else {
            format!("performax://{}", self.serial.to_ascii_lowercase())
        }
    }
}

fn list_with(api: &Api) -> Result<Vec<PerformaxInfo>, TransportError> {
    let n = device_count(api).ok_or_else(|| unavailable("fnPerformaxComGetNumDevices failed (is the USB driver installed?)"))?;
    Ok((0..n)
        .map(|index| PerformaxInfo {
            index,
            serial: product_string(api, index, RETURN_SERIAL_NUMBER).unwrap_or_default(),
            description: product_string(api, index, RETURN_DESCRIPTION).unwrap_or_default(),
        })
        .collect())
}

/// The devices `PerformaxCom.dll` sees (`dll` as in the URL's `?dll=`).
///
/// # Errors
/// [`TransportError::UsbUnavailable`] when the DLL cannot be loaded or fails.
pub fn list_devices(dll: Option<&str>) -> Result<Vec<PerformaxInfo>, TransportError> {
    let worker = worker_for(&resolve_library(dll)?)?;
    worker.call(|api, _| list_with(api))?
}

/// A device handle as the worker keeps it (a pointer value; only the worker dereferences it, by
/// handing it back to the DLL).
#[derive(Debug, Clone, Copy)]
struct DeviceHandle(usize);

impl DeviceHandle {
    fn raw(self) -> Handle {
        self.0 as Handle
    }
}

/// Sets the DLL's (global) timeouts if the last ones set differ.
fn ensure_timeouts(api: &Api, st: &mut WorkerState, timeouts: (u32, u32)) -> bool {
    if st.timeouts_ms == Some(timeouts) {
        return true;
    }
    // SAFETY: plain values.
    let ok = unsafe { (api.set_timeouts)(timeouts.0, timeouts.1) } != 0;
    st.timeouts_ms = ok.then_some(timeouts);
    ok
}

/// The outcome of one `SendRecv`.
struct Exchange {
    ok: bool,
    reply: [u8; USB_PACKET_BYTES],
    t_before_ns: i64,
    t_after_ns: i64,
}

/// An open Performax device through `PerformaxCom.dll`.
pub struct PerformaxLink {
    name: String,
    worker: Arc<DllWorker>,
    handle: DeviceHandle,
    timeouts_ms: (u32, u32),
    /// The reply of the last `SendRecv` (or why there is none), until `read_until` takes it.
    pending: Option<Result<(Vec<u8>, i64), TransportError>>,
    rx: Vec<u8>,
}

impl std::fmt::Debug for PerformaxLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerformaxLink").field("name", &self.name).field("dll", &self.worker.name).finish()
    }
}

impl PerformaxLink {
    /// Loads the DLL (`dll` as in the URL), finds `device`, then `SetTimeouts(read, write)` →
    /// `Open` → `Flush`. The read timeout is `timeout` (at least 1 ms).
    ///
    /// # Errors
    /// [`TransportError::UsbUnavailable`] (no DLL, a 32-bit DLL, the DLL fails),
    /// [`TransportError::PortNotFound`] listing the devices present, [`TransportError::PortBusy`]
    /// when the device cannot be opened (open in another program: one opener at a time).
    pub fn open(device: &PerformaxDevice, dll: Option<&str>, timeout: Duration) -> Result<PerformaxLink, TransportError> {
        let worker = worker_for(&resolve_library(dll)?)?;
        let read_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX).max(1);
        let timeouts = (read_ms, WRITE_TIMEOUT_MS);
        let wanted = device.clone();
        let (name, handle) = worker.call(move |api, st| -> Result<(String, DeviceHandle), TransportError> {
            let devices = list_with(api)?;
            let found = match &wanted {
                PerformaxDevice::Index(i) => devices.iter().find(|d| d.index == *i),
                PerformaxDevice::Serial(s) => devices.iter().find(|d| d.serial.eq_ignore_ascii_case(s)),
            };
            let Some(info) = found else {
                return Err(TransportError::PortNotFound {
                    port: format!("performax://{wanted}"),
                    available: devices.iter().map(PerformaxInfo::url).collect(),
                });
            };
            let name = info.url();
            if !ensure_timeouts(api, st, timeouts) {
                return Err(unavailable(format!("{name}: fnPerformaxComSetTimeouts failed")));
            }
            let mut h: Handle = std::ptr::null_mut();
            // SAFETY: `h` is a valid, writable HANDLE slot; the index is one the DLL listed.
            if unsafe { (api.open)(info.index, &mut h) } == 0 || h.is_null() {
                return Err(TransportError::PortBusy {
                    port: name,
                    detail: "fnPerformaxComOpen failed: the device is open in another program (one opener at a time), \
                             or its USB driver is not installed"
                        .into(),
                });
            }
            // SAFETY: `h` is the handle Open just returned.
            if unsafe { (api.flush)(h) } == 0 {
                // SAFETY: as above; the handle is not used after this.
                unsafe { (api.close)(h) };
                return Err(TransportError::Disconnected { port: name, detail: "fnPerformaxComFlush failed right after open".into() });
            }
            Ok((name, DeviceHandle(h as usize)))
        })??;
        Ok(PerformaxLink { name, worker, handle, timeouts_ms: timeouts, pending: None, rx: Vec::new() })
    }

    /// The library this link goes through (its path, or the bare name the OS searched for).
    pub fn library(&self) -> &str {
        &self.worker.name
    }
}

impl ByteLink for PerformaxLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        None
    }

    /// One `SendRecv(64, 64)`: returns the stamp taken just before the call; the reply (and the
    /// stamp taken just after) waits for [`ByteLink::read_until`].
    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        if frame.len() > USB_PACKET_BYTES || !frame.contains(&0) {
            return Err(TransportError::io(
                &self.name,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a Performax command is one NUL-terminated packet of at most 64 bytes",
                ),
            ));
        }
        let mut packet = [0u8; USB_PACKET_BYTES];
        packet[..frame.len()].copy_from_slice(frame);
        let (handle, timeouts) = (self.handle, self.timeouts_ms);
        self.rx.clear();
        let ex = self.worker.call(move |api, st| {
            let set = ensure_timeouts(api, st, timeouts);
            let mut reply = [0u8; USB_PACKET_BYTES];
            let t_before_ns = mono_ns();
            // SAFETY: `packet` and `reply` are 64-byte buffers, the sizes passed; the handle is
            // open (it is closed only by this link's drop, after which no call uses it).
            let ok = set
                && unsafe {
                    (api.send_recv)(
                        handle.raw(),
                        packet.as_mut_ptr().cast(),
                        USB_PACKET_BYTES as Dword,
                        USB_PACKET_BYTES as Dword,
                        reply.as_mut_ptr().cast(),
                    )
                } != 0;
            Exchange { ok, reply, t_before_ns, t_after_ns: mono_ns() }
        })?;
        self.pending = Some(if ex.ok {
            // The reply is NUL-terminated in its packet; the padding after it is not part of it.
            let end = ex.reply.iter().position(|&b| b == 0).map_or(USB_PACKET_BYTES, |p| p + 1);
            Ok((ex.reply[..end].to_vec(), ex.t_after_ns))
        } else {
            Err(TransportError::Timeout {
                port: self.name.clone(),
                waited_ms: (ex.t_after_ns - ex.t_before_ns) as f64 / 1e6,
                partial: "(fnPerformaxComSendRecv failed: no reply within the read timeout)".into(),
            })
        });
        Ok(ex.t_before_ns)
    }

    fn read_until(&mut self, terminator: u8, _deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        // The DLL's read timeout (set from the same timeout) bounds the wait inside SendRecv.
        let (bytes, t) = match self.pending.take() {
            Some(r) => r?,
            None => return Err(TransportError::Timeout { port: self.name.clone(), waited_ms: 0.0, partial: "(no command sent)".into() }),
        };
        self.rx.extend_from_slice(&bytes);
        match super::take_through(&mut self.rx, terminator) {
            Some(frame) => Ok((frame, t)),
            None => Err(TransportError::Timeout {
                port: self.name.clone(),
                waited_ms: 0.0,
                partial: String::from_utf8_lossy(&std::mem::take(&mut self.rx)).into_owned(),
            }),
        }
    }

    /// `Flush`: the device drops what it has not sent, so a late reply cannot answer the next command.
    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.pending = None;
        let handle = self.handle;
        // SAFETY: the handle is open (see write_frame).
        let ok = self.worker.call(move |api, _| unsafe { (api.flush)(handle.raw()) } != 0)?;
        if ok {
            Ok(())
        } else {
            Err(TransportError::Disconnected { port: self.name.clone(), detail: "fnPerformaxComFlush failed (device unplugged?)".into() })
        }
    }
}

impl Drop for PerformaxLink {
    fn drop(&mut self) {
        let handle = self.handle;
        // SAFETY: the handle was opened by this link and is used by nothing after its drop.
        self.worker.post(move |api, _| unsafe {
            (api.close)(handle.raw());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE header: "MZ", e_lfanew at 0x3c, "PE\0\0", then the machine field.
    fn pe_image(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 0x100];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        b
    }

    #[test]
    fn the_pe_header_tells_32_from_64_bit() {
        assert_eq!(pe_machine(&pe_image(0x014c)), Some(DllMachine::X86));
        assert_eq!(pe_machine(&pe_image(0x8664)), Some(DllMachine::X64));
        assert_eq!(pe_machine(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(pe_machine(b"MZ"), None);
        let mut bad = pe_image(0x8664);
        bad[0x80] = b'X';
        assert_eq!(pe_machine(&bad), None);
    }

    #[test]
    fn a_32_bit_dll_is_refused_by_name_before_loading() {
        let dir = std::env::temp_dir().join(format!("aefi-pe32-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(library_file_name());
        std::fs::write(&file, pe_image(0x014c)).unwrap();
        let e = PerformaxLink::open(&PerformaxDevice::Index(0), Some(dir.to_str().unwrap()), Duration::from_millis(100)).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(e, TransportError::UsbUnavailable { .. }), "{e}");
        assert!(e.to_string().contains("this PerformaxCom.dll is 32-bit"), "{e}");
    }

    #[test]
    fn windows_error_193_reads_as_32_bit() {
        // What libloading reports when LoadLibraryExW fails with ERROR_BAD_EXE_FORMAT.
        let text = "%1 is not a valid Win32 application. (os error 193)";
        let e = unavailable(text);
        assert!(e.to_string().contains("193"));
        let e = if text.contains("os error 193") { thirty_two_bit("C:\\x\\PerformaxCom.dll") } else { e };
        assert!(e.to_string().contains("this PerformaxCom.dll is 32-bit"), "{e}");
    }

    #[test]
    fn a_missing_library_says_where_it_looked_and_what_to_do() {
        let e = resolve_library(Some("/nonexistent-aefi/PerformaxCom.dll")).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
        let e = PerformaxLink::open(&PerformaxDevice::Index(0), Some("/nonexistent-aefi"), Duration::from_millis(10)).unwrap_err();
        assert!(matches!(e, TransportError::UsbUnavailable { .. }), "{e}");
    }

    #[test]
    fn a_library_without_the_functions_is_not_performax() {
        // Any shared library that is not PerformaxCom: the C library on Unix, kernel32 on Windows.
        let other = if cfg!(windows) {
            "kernel32.dll"
        } else if cfg!(target_os = "macos") {
            "/usr/lib/libSystem.B.dylib"
        } else {
            "libc.so.6"
        };
        let e = match load(&OsString::from(other)) {
            Ok(_) => panic!("{other} loaded as PerformaxCom"),
            Err(e) => e,
        };
        assert!(e.to_string().contains("is not PerformaxCom.dll: no fnPerformaxCom"), "{e}");
    }
}
