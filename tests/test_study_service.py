"""StudyService with fakes only: validate, execute, notify, save — also when aborted or failed."""
import threading

import numpy as np
import pytest

from pymodaq_plugins_aefi.application.study_service import StudyService
from pymodaq_plugins_aefi.domain import (
    FlyScanAborted,
    FlyScanCompleted,
    FlyScanConfig,
    FlyScanFailed,
    FlyScanLineAcquired,
    FlyScanLineCorrelated,
    FlyScanProgress,
    FlyScanSaved,
    FlyScanStarted,
    InvalidScanConfig,
    LineState,
    ScanBusyError,
    ScanExecutionError,
    ScanId,
    ScanStatus,
)
from pymodaq_plugins_aefi.testing.fakes import FakeResultsRepository, FakeScanPort, RecordingObserver, bump_field

CONFIG = FlyScanConfig(fast_start_mm=20, fast_stop_mm=60, slow_start_mm=10, slow_stop_mm=50, lines=9,
                       points_per_line=41, speed_mm_s=20, sample_rate_hz=500)


def service(**port_options):
    port, repo, observer = FakeScanPort(**port_options), FakeResultsRepository(), RecordingObserver()
    return StudyService(port, repo, [observer]), port, repo, observer


def test_completed_study_is_saved_and_announced_in_order():
    svc, port, repo, obs = service()
    outcome = svc.run_study(CONFIG, ScanId("scan_20261125_120000"))
    assert outcome.status is ScanStatus.COMPLETED and not outcome.partial
    assert repo.saved[outcome.location] is outcome.results
    kinds = [type(e) for e in obs.events]
    assert kinds[0] is FlyScanStarted and kinds[-2:] == [FlyScanCompleted, FlyScanSaved]
    per_line = [e for e in obs.events if isinstance(e, (FlyScanLineAcquired, FlyScanLineCorrelated, FlyScanProgress))]
    # progress is published from the start; each line is acquired, then correlated, then progress follows
    first = next(i for i, e in enumerate(per_line) if isinstance(e, FlyScanLineAcquired))
    assert isinstance(per_line[0], FlyScanProgress)
    assert [type(e) for e in per_line[first:first + 3]] == [FlyScanLineAcquired, FlyScanLineCorrelated, FlyScanProgress]
    assert [e.line for e in obs.of_type(FlyScanLineCorrelated)] == list(range(9))
    assert obs.of_type(FlyScanProgress)[-1].fraction == 1.0
    assert all(e.scan_id == "scan_20261125_120000" for e in obs.events)


def test_results_map_matches_the_field():
    svc, *_ = service()
    results = svc.run_study(CONFIG).results
    grid = results.map
    assert grid.shape == (9, 41) and grid.counts.min() > 0 and grid.outside == 0
    xx, yy = np.meshgrid(grid.fast_axis_mm, grid.slow_axis_mm)
    truth = bump_field(xx.ravel(), yy.ravel()).T.reshape(6, 9, 41)
    # cells average samples over ±0.5 mm (half that in the edge cells) of a smooth bump: close, not identical
    assert np.abs(grid.volts - truth).max() < 0.005 * truth.max()
    assert results.samples == len(results.raw) == 9 * 41 * 25 - 9 * 24  # 1001 samples per 40 mm line
    np.testing.assert_array_equal(results.line_samples(3).line, 3)
    np.testing.assert_array_equal(results.line_profile(2), grid.volts[:, 2, :])


def test_request_as_mapping_and_refusal_before_execution():
    svc, port, repo, obs = service()
    with pytest.raises(InvalidScanConfig) as info:
        svc.run_study({**CONFIG.to_dict(), "speed_mm_s": -1})
    assert info.value.field == "speed_mm_s"
    assert port.executed == [] and repo.saved == {} and obs.events == []
    assert svc.run_study(CONFIG.to_dict()).status is ScanStatus.COMPLETED


def test_abort_mid_study_saves_lines_so_far_as_partial():
    holder = {}
    svc, port, repo, obs = service(after_line=lambda i: i == 3 and holder["svc"].abort())
    holder["svc"] = svc
    outcome = svc.run_study(CONFIG)
    assert port.abort_calls == 1
    results = repo.saved[outcome.location]
    assert results.status is ScanStatus.ABORTED and results.partial and results.lines_done == 4
    assert [line.state for line in results.lines[:5]] == [LineState.CORRELATED] * 4 + [LineState.PENDING]
    assert np.isnan(results.map.volts[:, 4:]).all() and (results.map.counts[:4] > 0).all()
    assert set(results.raw.line.tolist()) == {0, 1, 2, 3}
    aborted = obs.of_type(FlyScanAborted)
    assert len(aborted) == 1 and aborted[0].lines_done == 4
    assert obs.of_type(FlyScanSaved)[0].partial and obs.of_type(FlyScanSaved)[0].status == "aborted"


def test_failure_mid_study_saves_partial_results():
    svc, port, repo, obs = service(fail_after_lines=2)
    outcome = svc.run_study(CONFIG)
    assert outcome.status is ScanStatus.FAILED and outcome.partial
    assert outcome.results.error == "stall on line 2" and outcome.results.lines_done == 2
    assert outcome.results.lines[2].state is LineState.FAILED
    assert obs.of_type(FlyScanFailed)[0].error == "stall on line 2"
    assert outcome.location in repo.saved


def test_failure_with_nothing_to_save_is_raised_and_announced():
    svc, port, repo, obs = service(fail_with_nothing=True)
    with pytest.raises(ScanExecutionError, match="link lost"):
        svc.run_study(CONFIG)
    assert repo.saved == {} and obs.of_type(FlyScanFailed)[0].error_type == "ScanExecutionError"
    assert svc.running is None
    assert FakeScanPort().execute_scan  # the service is usable again:
    svc._port.fail_with_nothing = False
    assert svc.run_study(CONFIG).status is ScanStatus.COMPLETED


def test_unexpected_port_error_becomes_a_failed_study():
    svc, port, repo, obs = service()
    port.execute_scan = lambda scan, observer: (_ for _ in ()).throw(RuntimeError("bug"))
    with pytest.raises(ScanExecutionError, match="RuntimeError: bug"):
        svc.run_study(CONFIG)
    assert obs.of_type(FlyScanFailed)[0].error == "bug"


def test_one_study_at_a_time():
    entered, release = threading.Event(), threading.Event()
    svc, port, repo, obs = service(after_line=lambda i: (entered.set(), release.wait(5)))
    worker = threading.Thread(target=svc.run_study, args=(CONFIG,))
    worker.start()
    assert entered.wait(5)
    with pytest.raises(ScanBusyError, match="is running"):
        svc.run_study(CONFIG)
    release.set()
    worker.join(5)
    assert len(repo.saved) == 1


def test_failing_observer_does_not_stop_the_study():
    class Broken:
        def on_event(self, event):
            raise RuntimeError("widget gone")

    svc, port, repo, obs = service()
    svc.observers.add(Broken())
    assert svc.run_study(CONFIG).status is ScanStatus.COMPLETED
    assert obs.of_type(FlyScanSaved)
    with pytest.raises(TypeError, match="on_event"):
        svc.observers.add(object())


def test_save_failure_propagates():
    port, repo = FakeScanPort(), FakeResultsRepository(fail_on_save=True)
    with pytest.raises(OSError, match="disk full"):
        StudyService(port, repo).run_study(CONFIG)


def test_a_stop_before_the_scan_reached_the_port_is_saved_as_aborted_without_lines():
    svc, port, repo, obs = service(abort_while_preparing=True)
    outcome = svc.run_study(CONFIG)
    assert outcome.status is ScanStatus.ABORTED and outcome.results.lines_done == 0
    assert repo.saved[outcome.location] is outcome.results
    assert not obs.of_type(FlyScanFailed) and obs.of_type(FlyScanSaved)
