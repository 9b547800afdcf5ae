"""`aefi-flyscan --gui`: the same study, shown live in a window of PyMoDAQ widgets (PyMoDAQView).

The study runs on a worker thread exactly as in the headless command; this window only observes
it, plus a Stop button that asks the service to abort (as Ctrl-C does).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Optional

from qtpy import QtWidgets

from ..adapters.scan_view import PyMoDAQView
from ..application.study_service import StudyOutcome, StudyService
from ..domain.measurement import CHANNEL_NAMES


class FlyscanWindow:
    """A main window holding a PyMoDAQView and a Stop button for one study."""

    def __init__(self, service: StudyService, channel: str = "z_in_phase") -> None:
        from pymodaq_gui.qt_utils import mkQApp
        from pymodaq_gui.utils.dock import DockArea

        self.qapp = mkQApp("aefi-flyscan")
        self.service = service
        self.window = QtWidgets.QMainWindow()
        self.window.setWindowTitle("AEFI flyscan")
        self.window.resize(1400, 800)
        dockarea = DockArea()
        self.window.setCentralWidget(dockarea)
        self.view = PyMoDAQView(dockarea, channel=CHANNEL_NAMES.index(channel))
        toolbar = self.window.addToolBar("flyscan")
        self.stop_action = toolbar.addAction("Stop", service.abort)
        service.observers.add(self.view)
        self.window.show()

    def run(self, config: Any) -> StudyOutcome:
        """Run the study while the window stays responsive; returns or raises as `run_study` does."""
        ending: dict[str, Any] = {}

        def work() -> None:
            try:
                ending["outcome"] = self.service.run_study(config)
            except BaseException as error:  # handed to the calling thread, which re-raises it
                ending["error"] = error

        worker = threading.Thread(target=work, name="aefi-study", daemon=True)
        worker.start()
        while worker.is_alive():
            self.qapp.processEvents()
            if not self.window.isVisible():  # closing the window stops the scan, like Stop
                self.service.abort()
            time.sleep(0.01)
        self.qapp.processEvents()
        self.stop_action.setEnabled(False)
        if "error" in ending:
            raise ending["error"]
        outcome: StudyOutcome = ending["outcome"]
        self.view.show_stats(outcome.results.stats)
        self.qapp.processEvents()
        return outcome

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.qapp.processEvents()
        self.window.grab().save(str(path))
        return path

    def wait_closed(self) -> None:
        """Keep the window up until the user closes it."""
        while self.window.isVisible():
            self.qapp.processEvents()
            time.sleep(0.02)

    def close(self, screenshot: Optional[Path] = None) -> None:
        if screenshot is not None:
            self.screenshot(screenshot)
        self.window.close()
        self.window.deleteLater()
        self.qapp.processEvents()
