"""Screenshots of the real PyMoDAQ Dashboard for README.md (run under Xvfb: `make screenshots`).

Loads the shipped preset (aefi-preset) in a Dashboard on the simulator, flies a raster with the 2D
flyscan viewer and a line with the 1D viewer, and grabs the whole X screen into docs/img/.
PyMoDAQ's configuration goes to a throw-away HOME so the user's own is not touched.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"


def _sandbox() -> None:
    home = Path(tempfile.mkdtemp(prefix="aefi-shots-"))
    config = home / ".pymodaq" / "config"
    config.mkdir(parents=True)
    (config / "utils.toml").write_text("[backup]\nkeep_backup = false\n")
    (config / "data.toml").write_text(f'[data_saving.h5file]\nsave_path = "{home / "data"}"\n')
    (config / "pymodaq.toml").write_text("[scan]\nshow_popups = false\n")
    os.environ["HOME"] = str(home)
    os.environ["AEFI_TEST_ETC"] = str(home / "etc")
    sys.path.insert(0, str(ROOT / "tests" / "hermetic"))
    import sitecustomize  # noqa: F401  (tests/hermetic: keeps PyMoDAQ's /etc writes in the sandbox)


def _wait(qapp, done, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        qapp.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _grab_screen(qapp, path: Path) -> None:
    for _ in range(20):
        qapp.processEvents()
        time.sleep(0.02)
    screen = qapp.primaryScreen()
    screen.grabWindow(0).save(str(path))
    print(path)


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

    raster = detectors["Flyscan map"]
    for name, value in dict(fast_start_mm=12.0, fast_stop_mm=80.0, slow_start_mm=14.0, slow_stop_mm=62.0, lines=17,
                            points_per_line=69, speed_mm_s=32.0, map_channels="z_in_phase").items():
        raster.settings.child("detector_settings", name).setValue(value)
    grabbed = []
    raster.grab_done_signal.connect(grabbed.append)
    raster.snap()
    _wait(qapp, lambda: grabbed, 300, "the raster")

    line = detectors["Flyscan line"]
    for name, value in dict(fast_start_mm=12.0, fast_stop_mm=80.0, points_per_line=69, speed_mm_s=32.0).items():
        line.settings.child("detector_settings", name).setValue(value)
    actuators = {m.title: m for m in dashboard.actuators_modules}
    moved = []
    actuators["Y"].move_done_signal.connect(moved.append)
    actuators["Y"].move_abs(38.0)
    _wait(qapp, lambda: moved, 60, "Y at 38 mm")
    line_done = []
    line.grab_done_signal.connect(line_done.append)
    line.snap()
    _wait(qapp, lambda: line_done, 120, "the line")
    _grab_screen(qapp, IMG / "dashboard.png")
    raster.viewers_docks[0].grab().save(str(IMG / "dashboard_map.png"))
    print(IMG / "dashboard_map.png")
    dashboard.quit_fun()
    return 0


if __name__ == "__main__":
    sys.exit(main())
