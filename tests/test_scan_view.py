"""PyMoDAQView shows what a study publishes, from the scan's own thread, without driving anything."""
import threading
import time

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from pymodaq_plugins_aefi.adapters.scan_view import CHANNEL_NAMES, PyMoDAQView
from pymodaq_plugins_aefi.application.study_service import StudyService
from pymodaq_plugins_aefi.domain.ports import ScanObserver
from pymodaq_plugins_aefi.testing.fakes import FakeResultsRepository, FakeScanPort

pytestmark = pytest.mark.gui

REQUEST = dict(fast_start_mm=20.0, fast_stop_mm=60.0, slow_start_mm=10.0, slow_stop_mm=50.0, lines=9,
               points_per_line=41, speed_mm_s=30.0, sample_rate_hz=1000.0)


@pytest.fixture
def view(qapp):
    from pymodaq_gui.qt_utils import mkQApp

    mkQApp("view")
    view = PyMoDAQView()
    yield view
    view.dockarea.close()
    view.dockarea.deleteLater()


def _run_in_thread(service, request):
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", service.run_study(request)))
    thread.start()
    deadline = time.monotonic() + 20
    while thread.is_alive() or "value" not in outcome:
        QApplication.processEvents()
        assert time.monotonic() < deadline, "study did not end"
        time.sleep(0.005)
    for _ in range(5):
        QApplication.processEvents()
    return outcome["value"]


def test_view_is_an_observer_and_draws_the_whole_map(view):
    assert isinstance(view, ScanObserver)
    port = FakeScanPort()
    outcome = _run_in_thread(StudyService(port, FakeResultsRepository(), [view]), REQUEST)
    assert port.abort_calls == 0  # the view never drives the scan
    assert view.map_volts.shape == (6, 9, 41)
    np.testing.assert_allclose(view.map_volts, outcome.results.map.volts, equal_nan=True)
    assert view.progress_bar.value() == 100
    assert "completed: 9 lines" in view.state_label.text() and "saved" in view.state_label.text()
    shown = view.map_viewer._raw_data  # what the viewer was given
    assert shown.units == "V" and [axis.units for axis in shown.axes] == ["mm", "mm"]
    np.testing.assert_allclose(shown.data[0], outcome.results.map.volts[0])


def test_partial_scan_keeps_unflown_rows_empty_and_says_so(view):
    port = FakeScanPort(abort_after_lines=4)
    _run_in_thread(StudyService(port, FakeResultsRepository(), [view]), REQUEST)
    assert np.isfinite(view.map_volts[:, :4]).all()
    assert np.isnan(view.map_volts[:, 4:]).all()
    assert "aborted after 4 lines" in view.state_label.text()
    assert "(partial)" in view.state_label.text()


def test_channel_choice_and_stats(view):
    _run_in_thread(StudyService(FakeScanPort(), FakeResultsRepository(), [view]), REQUEST)
    view.channel_box.setCurrentIndex(3)
    assert view.channel == 3 and CHANNEL_NAMES[3] == "y_quadrature"
    view.show_stats({"samples": 12000, "wall_time_s": 2.5,
                     "trigger_lateness_us": {"p50": 3.0, "p99": 12.5, "max": 40.0}, "missed_triggers": 0})
    text = view.stats_label.text()
    assert "samples: 12000" in text and "3.0 / 12.5 / 40.0" in text and "missed triggers: 0" in text


def test_flyscan_window_runs_a_study_and_saves_a_screenshot(tmp_path):
    from pymodaq_plugins_aefi.cli.flyscan_gui import FlyscanWindow

    service = StudyService(FakeScanPort(), FakeResultsRepository())
    window = FlyscanWindow(service, channel="z_in_phase")
    outcome = window.run(REQUEST)
    assert outcome.results.lines_done == 9
    assert np.isfinite(window.view.map_volts).all() and window.view.channel == CHANNEL_NAMES.index("z_in_phase")
    path = tmp_path / "gui.png"
    window.close(screenshot=path)
    assert path.stat().st_size > 10_000


def test_closing_the_window_stops_the_study():
    from pymodaq_plugins_aefi.cli.flyscan_gui import FlyscanWindow

    service = StudyService(FakeScanPort(after_line=lambda index: time.sleep(0.05)), FakeResultsRepository())
    window = FlyscanWindow(service)
    window.window.close()
    outcome = window.run(dict(REQUEST, lines=200))
    assert outcome.results.status.value == "aborted" and outcome.results.lines_done < 200
    window.close()
