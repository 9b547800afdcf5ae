"""Driving a headless PyMoDAQ Dashboard + DAQ_Scan from a test: load the modules, run a Scan1D, wait.

Imported by name (pytest puts tests/ on sys.path). PyMoDAQ is imported inside the functions so that
collecting the tests does not build the Dashboard's machinery.
"""
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from qtpy.QtWidgets import QApplication


def process_until(done: Callable[[], object], timeout_s: float, what: str) -> None:
    """Run the Qt event loop until `done()` is true; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        QApplication.processEvents()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@contextmanager
def headless_dashboard(app_name: str) -> Iterator[object]:
    """A Dashboard with no window shown, closed again on exit."""
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq_gui.qt_utils import mkQApp

    mkQApp(app_name)
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    try:
        yield dashboard
    finally:
        dashboard.quit_fun()
        shared_ui.parent.close()
        shared_ui.parent.deleteLater()
        QApplication.processEvents()


def load_modules(dashboard, plugin_infos: Sequence[Sequence[object]]) -> dict:
    """Load [actuators, detectors] (PyMoDAQ `PluginInfo`s), wait until all are initialized; by title."""
    loaded = []
    dashboard.module_creator.load_created_modules(plugin_infos, callback=loaded.append)
    process_until(lambda: loaded, 30, "the modules to initialize")
    modules = {m.title: m for m in loaded[0]}
    assert all(m.initialized_state for m in modules.values()), {t: m.initialized_state for t, m in modules.items()}
    return modules


def run_linear_scan1d(dashboard, actuator: str, detector: str, positions_mm: np.ndarray,
                      probe_detectors: bool = False) -> str:
    """Run a DAQ_Scan Scan1D Linear of `actuator` over evenly spaced `positions_mm`; its HDF5 file.

    `probe_detectors` presses *Probe detectors* first (one grab), which fills DAQ_Scan's live-plot lists.
    """
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension

    window, scan = create_extension(dashboard, DAQScan, show_extension=False)
    try:
        scan.modules_manager.selected_actuators_name = [actuator]
        scan.modules_manager.selected_detectors_name = [detector]
        scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
        sub = scan.scanner.get_scanner_sub_settings()
        sub.child("start").setValue(float(positions_mm[0]))
        sub.child("stop").setValue(float(positions_mm[-1]))
        sub.child("step").setValue(float(positions_mm[1] - positions_mm[0]))
        if probe_detectors:
            probe(scan)
        done = []
        scan.scan_done_signal.connect(lambda: done.append(True))
        scan.enable_workflow_actions(True)
        scan.do_scan()
        process_until(lambda: done, 120, "the scan to end")
        return scan.h5saver.settings["current_h5_file"]
    finally:
        scan.quit_fun()
        window.parent.close() if hasattr(window, "parent") else None


def load_preset(dashboard) -> dict:
    """Install the shipped preset and load it as `dashboard -x aefi_flyscan_sim` does; modules by title."""
    from pymodaq_plugins_aefi.cli.preset import PRESET_NAME, install

    path = install()
    assert PRESET_NAME in dashboard.experiment_manager.entries
    dashboard.experiment_manager.entry = PRESET_NAME
    dashboard.experiment_manager.execute_entry(path)

    def modules():
        return dashboard.actuators_modules + dashboard.detector_modules

    process_until(lambda: len(modules()) == 4 and all(m.initialized_state for m in modules()), 30,
                  "the preset's modules to initialize")
    return {m.title: m for m in modules()}


def probe(scan) -> None:
    """Press DAQ_Scan's *Probe detectors* and wait until its live-plot lists are filled."""
    scan.modules_manager.settings.child("probe_detectors").activate()
    process_until(lambda: scan.settings["plot_options", "plot_1d"]["all_items"], 60, "the detectors' probe")
