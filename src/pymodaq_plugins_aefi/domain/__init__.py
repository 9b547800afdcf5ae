"""The AEFI flyscan domain: pure Python and numpy (no PyMoDAQ, Qt, h5py or Rust module).

Names follow the bench's own model: FlyScan (aggregate) with FlyScanLine entities, FlyScanConfig,
ScanId, AefiVoltageMeasurement, the FlyScan* events, ScanResults, and the ports ScanPort (four
verbs: prepare, kickoff, complete, collect; abort), ScanObserver and ResultsRepository.
"""
from .config import FlyScanConfig
from .correlation import FlyScanCorrelationService, LineProfile, Placement, place_by_line_ends
from .errors import FlyScanError, InvalidScanConfig, InvalidTransition, ScanAborted, ScanBusyError, ScanExecutionError
from .estimates import step_scan_estimate_s, trapezoid_move_s
from .events import (
    FlyScanAborted,
    FlyScanCompleted,
    FlyScanEvent,
    FlyScanFailed,
    FlyScanLineAcquired,
    FlyScanLineCorrelated,
    FlyScanProgress,
    FlyScanSaved,
    FlyScanStarted,
)
from .fly_scan import FlyScan, FlyScanLine, LineState, ScanId, ScanStatus
from .gridding import GriddedMap, cell_index, grid_samples
from .lag import DetectorLag, estimate_lag, positions_at_lag, resolve_lag
from .lifecycle import run_scan
from .measurement import CHANNEL_NAMES, N_CHANNELS, AefiVoltageMeasurement
from .ports import FlightProgress, ObserverGroup, ResultsRepository, ScanCompletion, ScanObserver, ScanOutcome, ScanPort
from .recorder import FlyScanRecorder
from .results import LineSummary, Provenance, ScanResults, assemble_results, regrid
from .samples import RawSamples, SampleFlag
from .units import StepScale

__all__ = [
    "AefiVoltageMeasurement", "CHANNEL_NAMES", "DetectorLag", "FlyScan", "FlyScanAborted", "FlyScanCompleted",
    "FlyScanConfig",
    "FlyScanCorrelationService", "FlyScanError", "FlyScanEvent", "FlyScanFailed", "FlyScanLine",
    "FlyScanLineAcquired", "FlyScanLineCorrelated", "FlyScanProgress", "FlyScanRecorder", "FlyScanSaved",
    "FlyScanStarted", "FlightProgress", "GriddedMap", "InvalidScanConfig", "InvalidTransition", "LineProfile",
    "LineState", "LineSummary", "N_CHANNELS", "ObserverGroup", "Placement", "Provenance", "RawSamples",
    "ResultsRepository", "SampleFlag", "ScanAborted", "ScanBusyError", "ScanCompletion", "ScanExecutionError", "ScanId",
    "ScanObserver", "ScanOutcome", "ScanPort", "ScanResults", "ScanStatus", "StepScale", "assemble_results",
    "cell_index", "estimate_lag", "grid_samples", "place_by_line_ends", "positions_at_lag", "regrid", "resolve_lag",
    "run_scan", "step_scan_estimate_s", "trapezoid_move_s",
]
