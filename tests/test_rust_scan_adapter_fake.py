"""RustScanAdapter against a stand-in executor with the engine's contract (no Rust loop needed): the
four verbs one by one, abort in each state, and their composition `execute_scan`."""
import threading

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.port_arbiter import PortArbiter
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import RustScanAdapter, build_plan
from pymodaq_plugins_aefi.domain import (
    FlyScan,
    FlyScanAborted,
    FlyScanConfig,
    FlyScanLineCorrelated,
    FlyScanProgress,
    FlyScanStarted,
    InvalidScanConfig,
    InvalidTransition,
    LineState,
    RawSamples,
    ScanAborted,
    ScanBusyError,
    ScanPort,
    ScanStatus,
)
from pymodaq_plugins_aefi.testing.fake_executor import FakeArcusLink, FakeScanExecutor
from pymodaq_plugins_aefi.testing.fakes import RecordingObserver

CONFIG = FlyScanConfig(fast_start_mm=20, fast_stop_mm=50, slow_start_mm=20, slow_stop_mm=40, lines=5,
                       points_per_line=31, speed_mm_s=30, sample_rate_hz=500)


def field(x_mm, y_mm):
    return np.stack([np.asarray(x_mm) * (k + 1) + np.asarray(y_mm) for k in range(6)], axis=1)


class Rig:
    def __init__(self, url, **executor_options):
        self.links, self.executors = [], []
        self.options = executor_options

        def opener(u):
            self.links.append(FakeArcusLink(u))
            return self.links[-1]

        def factory():
            self.executors.append(FakeScanExecutor(
                field, plan_error=_engine.PlanError, aborted_error=_engine.ScanAbortedError,
                state_error=_engine.ScanStateError, **self.options,
            ))
            return self.executors[-1]

        self.adapter = RustScanAdapter(url, executor_factory=factory, arcus_opener=opener)


def test_is_a_scan_port():
    assert isinstance(RustScanAdapter("sim://x"), ScanPort)


def test_plan_in_steps():
    plan = build_plan(CONFIG)
    assert plan["fast_start_steps"] == round(20 / 0.0218) and plan["slow_stop_steps"] == round(40 / 0.0218)
    assert plan["speed_pps"] == pytest.approx(30 / 0.0218) and plan["travel_max_steps"] == round(1200 / 0.0218)
    assert plan["lines"] == 5 and plan["pattern"] == "serpentine" and plan["detector"] == "virtual_probe"


def test_the_seed_goes_into_the_plan_only_when_given():
    assert "seed" not in build_plan(CONFIG)
    seeded = FlyScanConfig(**{**CONFIG.to_dict(), "seed": 7})
    assert build_plan(seeded)["seed"] == 7
    assert FlyScanConfig.from_dict(seeded.to_dict()).seed == 7
    with pytest.raises(InvalidScanConfig) as info:
        FlyScanConfig(**{**CONFIG.to_dict(), "seed": -1})
    assert info.value.field == "seed"


def test_scan_maps_the_field_and_returns_the_link():
    rig = Rig("sim://adapter-fake-1")
    obs = RecordingObserver()
    results = rig.adapter.execute_scan(FlyScan(CONFIG), obs)
    assert results.status is ScanStatus.COMPLETED and not results.partial
    xx, yy = np.meshgrid(CONFIG.fast_axis_mm, CONFIG.slow_axis_mm)
    truth = field(xx.ravel(), yy.ravel()).T.reshape(6, 5, 31)
    # linear field: cell means equal the centre values up to the steps' rounding (< 1 step)
    inner = results.map.volts[:, :, 1:-1] - truth[:, :, 1:-1]
    assert np.abs(inner).max() < 6 * 2 * 0.0218 + 1e-9
    assert [e.line for e in obs.of_type(FlyScanLineCorrelated)] == [0, 1, 2, 3, 4]
    assert len(obs.of_type(FlyScanProgress)) >= 3
    assert rig.links[0].closed and not rig.links[0].is_lent
    assert PortArbiter.for_url("sim://adapter-fake-1", None).borrower is None
    assert results.provenance.plan["speed_pps"] == pytest.approx(30 / 0.0218)
    assert results.provenance.versions["aefi_scan_engine"] == _engine.__version__
    assert results.stats["status"] == "completed" and results.samples == results.stats["samples"]


def test_abort_from_another_thread_keeps_finished_lines():
    rig = Rig("sim://adapter-fake-2", time_scale=5.0)
    obs = RecordingObserver()
    timer = threading.Timer(0.25, rig.adapter.abort)
    timer.start()
    results = rig.adapter.execute_scan(FlyScan(CONFIG), obs)
    timer.join()
    assert results.status is ScanStatus.ABORTED and results.partial
    assert rig.executors[0].abort_calls >= 1
    done = results.lines_done
    assert 0 < done < 5
    assert [line.state for line in results.lines[:done]] == [LineState.CORRELATED] * done
    assert results.lines[done].state is LineState.FAILED
    assert set(np.unique(results.raw.line)) == set(range(done))
    assert rig.links[0].closed


def test_engine_failure_gives_failed_partial_results():
    rig = Rig("sim://adapter-fake-3", fail_on_line=2)
    results = rig.adapter.execute_scan(FlyScan(CONFIG), RecordingObserver())
    assert results.status is ScanStatus.FAILED and results.lines_done == 2
    assert results.error == "LinkTimeoutError: no reply on line 2"


def test_plan_refusal_names_the_config_field():
    rig = Rig("sim://adapter-fake-4")
    fast = FlyScanConfig(**{**CONFIG.to_dict(), "speed_mm_s": 60})  # 2752 pps > HS 1500
    with pytest.raises(InvalidScanConfig) as info:
        rig.adapter.execute_scan(FlyScan(fast), RecordingObserver())
    assert info.value.field == "speed_mm_s" and "above HS" in str(info.value)
    assert rig.links[0].closed and not rig.links[0].is_lent


def test_observer_exception_stops_the_engine():
    class Exploding(RecordingObserver):
        def on_event(self, event):
            if isinstance(event, FlyScanProgress):
                raise KeyboardInterrupt
            super().on_event(event)

    rig = Rig("sim://adapter-fake-5", time_scale=5.0)
    with pytest.raises(KeyboardInterrupt):
        rig.adapter.execute_scan(FlyScan(CONFIG), Exploding())
    assert rig.executors[0].abort_calls == 1 and rig.executors[0].progress()["state"] == "aborted"
    assert rig.links[0].closed and not rig.links[0].is_lent


def test_busy_link_is_refused():
    rig = Rig("sim://adapter-fake-6")
    lease = PortArbiter.for_url("sim://adapter-fake-6", rig.adapter._arcus_opener).lease("another scan")
    with lease, pytest.raises(ScanBusyError, match="lent to another scan"):
        rig.adapter.execute_scan(FlyScan(CONFIG), RecordingObserver())


def test_a_line_closes_only_when_its_last_records_are_in():
    rig = Rig("sim://adapter-fake-7", lines_done_early=True, time_scale=20.0)
    obs = RecordingObserver()
    results = rig.adapter.execute_scan(FlyScan(CONFIG), obs)
    per_line = int(1 / 30 * 30 * 500) + 1  # 30 mm at 30 mm/s, 500 Hz, both ends
    acquired = [e.samples for e in obs.events if e.topic == "flyscanlineacquired"]
    assert acquired == [per_line] * 5
    assert results.samples == 5 * per_line


# ---- the verbs one by one ---------------------------------------------------------------------------
def test_prepare_leases_the_link_and_nothing_flies_before_kickoff():
    rig = Rig("sim://adapter-verbs-1")
    scan = FlyScan(CONFIG)
    rig.adapter.prepare(scan)
    link, executor = rig.links[0], rig.executors[0]
    assert link.is_lent and PortArbiter.for_url("sim://adapter-verbs-1", None).borrower == f"flyscan {scan.id}"
    status = rig.adapter.complete()
    assert status.progress().state == "ready" and not status.done
    assert len(rig.adapter.collect()) == 0
    with pytest.raises(ScanBusyError, match="is prepared"):
        rig.adapter.prepare(FlyScan(CONFIG))
    rig.adapter.kickoff()
    assert status.wait(30)
    outcome = status.outcome()
    assert outcome.status is ScanStatus.COMPLETED and outcome.stats["lines"] == 5
    assert outcome.source == "sim://adapter-verbs-1" and outcome.plan["lines"] == 5
    # the links went back as soon as the end was seen
    assert not link.is_lent and PortArbiter.for_url("sim://adapter-verbs-1", None).borrower is None
    assert executor.verbs == ["prepare", "complete", "kickoff"]


def test_collect_in_pieces_equals_the_whole():
    rig = Rig("sim://adapter-verbs-2", time_scale=10.0, chunk_records=37)
    rig.adapter.prepare(FlyScan(CONFIG))
    rig.adapter.kickoff()
    status = rig.adapter.complete()
    pieces = []
    while not status.done:
        pieces.append(rig.adapter.collect())
        status.wait(0.01)
    pieces.append(rig.adapter.collect())
    assert sum(1 for p in pieces if len(p)) > 5, "collected while flying, in several pieces"
    whole = RawSamples.concat(pieces)
    assert whole.seq.tolist() == list(range(status.outcome().stats["samples"]))
    assert np.all(np.diff(whole.t_ns[whole.line == 0]) > 0)
    assert len(rig.adapter.collect()) == 0, "nothing is collected twice"


def test_abort_during_prepare_stops_on_the_way_and_reports_an_aborted_scan():
    rig = Rig("sim://adapter-verbs-3", prepare_s=5.0)
    threading.Timer(0.1, rig.adapter.abort).start()
    obs = RecordingObserver()
    results = rig.adapter.execute_scan(FlyScan(CONFIG), obs)
    assert results.status is ScanStatus.ABORTED and results.lines_done == 0 and len(results.raw) == 0
    assert [type(e) for e in obs.events] == [FlyScanStarted, FlyScanAborted]
    assert rig.executors[0].verbs == ["prepare", "complete"]
    assert not rig.links[0].is_lent and PortArbiter.for_url("sim://adapter-verbs-3", None).borrower is None


def test_prepare_aborted_raises_scan_aborted():
    rig = Rig("sim://adapter-verbs-4", prepare_s=5.0)
    threading.Timer(0.1, rig.adapter.abort).start()
    with pytest.raises(ScanAborted):
        rig.adapter.prepare(FlyScan(CONFIG))
    assert rig.adapter.complete().outcome().status is ScanStatus.ABORTED
    with pytest.raises(ScanAborted):
        rig.adapter.kickoff()


def test_abort_between_prepare_and_kickoff():
    rig = Rig("sim://adapter-verbs-5")
    rig.adapter.prepare(FlyScan(CONFIG))
    rig.adapter.abort()
    with pytest.raises(ScanAborted):
        rig.adapter.kickoff()
    status = rig.adapter.complete()
    assert status.wait(5) and status.outcome().status is ScanStatus.ABORTED
    assert not rig.links[0].is_lent


def test_verbs_before_prepare_are_refused():
    rig = Rig("sim://adapter-verbs-6")
    for verb in (rig.adapter.kickoff, rig.adapter.complete, rig.adapter.collect):
        with pytest.raises(InvalidTransition):
            verb()
    rig.adapter.abort()  # idle: a no-op
