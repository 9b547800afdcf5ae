//! The acquisition board of each in-process simulated bench (`sim://NAME`).
//!
//! The board of a bench reads the field map at the bench's Arcus ground truth (X and Y axes,
//! steps × [`DEFAULT_MM_PER_STEP`]), so a flyscan through `sim://NAME` for both links is checkable
//! against truth. It is created on the first board open of that bench and kept with it; one
//! link at a time has it (a second open is `PortBusy`, as an exclusively opened serial port).
//! The link's `timing=wire|none` query sets the board's reply pacing for that link; the board's
//! options of its first link's URL (`board_offset_uv`, `board_drift_uv_per_s`, `filter_tau_ms=20`:
//! the detection chain's low-pass, see [`crate::detection`]) configure it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::bench::{bench_for_url, find_bench, SimBench};
use super::board::{BoardModel, BoardSimConfig, BoardSimHandle, BoardSimPort, ProbeFn, DEFAULT_MM_PER_STEP};
use super::board_link::{BoardSlot, SimBoardLink};
use aefi_scan_engine::arcus::protocol::Axis;
use aefi_scan_engine::transport::{LinkUrl, SimTiming, TransportError};

struct Entry {
    bench: Weak<SimBench>,
    slot: BoardSlot,
    handle: BoardSimHandle,
}

fn boards() -> &'static Mutex<HashMap<String, Entry>> {
    static REG: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The probe of a bench: the true X/Y position of its Arcus, in mm.
pub fn bench_probe(bench: &SimBench, mm_per_step: f64) -> ProbeFn {
    let truth = bench.truth.clone();
    Arc::new(move |t_ns| (truth.true_position_steps(Axis::X, t_ns) * mm_per_step, truth.true_position_steps(Axis::Y, t_ns) * mm_per_step))
}

fn entry_for(bench: &Arc<SimBench>, cfg: BoardSimConfig) -> (BoardSlot, BoardSimHandle) {
    let mut reg = boards().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = reg.get(&bench.name) {
        // a bench removed and created again under the same name gets a new board
        if e.bench.upgrade().is_some_and(|b| Arc::ptr_eq(&b, bench)) {
            return (Arc::clone(&e.slot), e.handle.clone());
        }
    }
    let model = BoardModel::new(cfg, bench_probe(bench, DEFAULT_MM_PER_STEP));
    let handle = model.handle();
    let slot: BoardSlot = Arc::new(Mutex::new(Some(BoardSimPort::new(model))));
    reg.insert(bench.name.clone(), Entry { bench: Arc::downgrade(bench), slot: Arc::clone(&slot), handle: handle.clone() });
    (slot, handle)
}

/// Opens the board of the bench named by a `sim://` URL (creating the bench if needed).
///
/// # Errors
/// Bad URL, or [`TransportError::PortBusy`] while another link has the board.
pub fn open_board_link(url: &str) -> Result<SimBoardLink, TransportError> {
    let LinkUrl::Sim { name, timing, options, .. } = LinkUrl::parse(url)? else {
        return Err(TransportError::BadUrl { url: url.to_string(), reason: "not a sim:// URL".into() });
    };
    // the board's options count when its first link creates it, as the Arcus's do for the bench
    let cfg = BoardSimConfig::default()
        .with_url_options(options.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|reason| TransportError::BadUrl { url: url.to_string(), reason })?;
    let bench = bench_for_url(url)?;
    let (slot, _) = entry_for(&bench, cfg);
    let mut link = SimBoardLink::open_with_clock(&format!("sim://{name} (board)"), &slot, Arc::clone(&bench.clock))?;
    link.set_wire_timing(timing == SimTiming::Wire);
    Ok(link)
}

/// Fault injection and truth of the board of bench `name`, if that bench exists.
pub fn board_handle(name: &str) -> Option<BoardSimHandle> {
    let bench = find_bench(name)?;
    Some(entry_for(&bench, BoardSimConfig::default()).1)
}
