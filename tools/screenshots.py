"""Screenshots of the real PyMoDAQ Dashboard for README.md (run under Xvfb: `make screenshots`).

Does what README.md tells a new user to do, with every setting as shipped (nothing is changed before
shooting): loads the preset (aefi-preset) in a Dashboard on the simulator, presses Snap on
"Flyscan map", then on "Flyscan line", and grabs the screen (docs/img/dashboard.png); then runs the
README's "DAQ_Scan in flyscan mode" recipe and grabs the DAQ_Scan window (docs/img/daq_scan_flyscan.png).
PyMoDAQ's configuration goes to a throw-away HOME, created from the package's templates like a first
start, so the user's own is neither used nor touched.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"


def _sandbox() -> None:
    home = Path(tempfile.mkdtemp(prefix="aefi-shots-"))
    config = home / ".pymodaq" / "config"
    config.mkdir(parents=True)
    # PyMoDAQ's own files only: no environment backup, data in the sandbox, no DAQ_Scan pop-ups
    (config / "utils.toml").write_text("[backup]\nkeep_backup = false\n")
    (config / "data.toml").write_text(f'[data_saving.h5file]\nsave_path = "{home / "data"}"\n')
    (config / "pymodaq.toml").write_text("[scan]\nshow_popups = false\n")
    os.environ["HOME"] = str(home)
    os.environ["AEFI_TEST_ETC"] = str(home / "etc")
    hermetic = str(ROOT / "tests" / "hermetic")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [hermetic, os.environ.get("PYTHONPATH")]))  # children too
    sys.path.insert(0, hermetic)
    import sitecustomize  # noqa: F401  (tests/hermetic: keeps PyMoDAQ's /etc writes in the sandbox)


def _wait(qapp, done, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        qapp.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _settle(qapp) -> None:
    for _ in range(30):
        qapp.processEvents()
        time.sleep(0.02)


def _snap(qapp, module, timeout_s: float) -> None:
    done = []
    module.grab_done_signal.connect(done.append)
    module.snap()
    _wait(qapp, lambda: done, timeout_s, f"Snap on {module.title}")


def _readme_scan() -> tuple[str, str, float, float, float]:
    """Actuator, detector, start, stop, step of README.md's "DAQ_Scan in flyscan mode" recipe."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"Select the actuator \*\*(\w+)\*\* and the detector \*\*([\w ]+)\*\*; scan type \*Scan1D\*, "
                      r"\*Linear\*,\s+start \*\*([\d.]+)\*\*, stop \*\*([\d.]+)\*\*, step \*\*([\d.]+)\*\*", readme)
    if match is None:
        raise RuntimeError("README.md has no DAQ_Scan recipe in the expected words")
    actuator, detector, start, stop, step = match.groups()
    return actuator, detector, float(start), float(stop), float(step)


def _daq_scan(qapp, dashboard) -> None:
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension

    actuator, detector, start, stop, step = _readme_scan()
    shared_ui, scan = create_extension(dashboard, DAQScan, show_extension=True)
    window = shared_ui.mainwindow
    window.setGeometry(qapp.primaryScreen().availableGeometry())
    scan.modules_manager.selected_actuators_name = [actuator]
    scan.modules_manager.selected_detectors_name = [detector]
    scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
    sub = scan.scanner.get_scanner_sub_settings()
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        sub.child(name).setValue(value)
    # README: press Probe detectors, which lists the line for the live plots
    scan.modules_manager.settings.child("probe_detectors").activate()
    _wait(qapp, lambda: scan.settings["plot_options", "plot_1d"]["all_items"], 60, "the detectors' probe")
    done = []
    scan.scan_done_signal.connect(lambda: done.append(True))
    scan.enable_workflow_actions(True)
    scan.do_scan()  # the Start button
    n_steps = int(np.floor((stop - start) / step)) + 1
    _wait(qapp, lambda: done, 30 * n_steps, "the DAQ_Scan run")
    _settle(qapp)
    window.grab().save(str(IMG / "daq_scan_flyscan.png"))
    print(IMG / "daq_scan_flyscan.png")
    scan.quit_fun()


def main() -> int:
    _sandbox()
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq_gui.qt_utils import mkQApp

    from pymodaq_plugins_aefi.cli.preset import PRESET_NAME, install

    IMG.mkdir(parents=True, exist_ok=True)
    qapp = mkQApp("Dashboard")
    path = install()
    shared_ui, dashboard = create_load_dashboard(show_dashboard=True)
    dashboard.experiment_manager.entry = PRESET_NAME
    dashboard.experiment_manager.execute_entry(path)
    modules = lambda: dashboard.actuators_modules + dashboard.detector_modules  # noqa: E731
    _wait(qapp, lambda: len(modules()) == 4 and all(m.initialized_state for m in modules()), 60, "the preset")
    window = dashboard.mainwindow
    window.setGeometry(qapp.primaryScreen().availableGeometry())  # no window manager under Xvfb to maximize it
    detectors = {m.title: m for m in dashboard.detector_modules}

    _snap(qapp, detectors["Flyscan map"], 300)
    _snap(qapp, detectors["Flyscan line"], 60)
    _settle(qapp)
    qapp.primaryScreen().grabWindow(0).save(str(IMG / "dashboard.png"))
    print(IMG / "dashboard.png")

    _daq_scan(qapp, dashboard)
    dashboard.quit_fun()
    return 0


if __name__ == "__main__":
    sys.exit(main())
