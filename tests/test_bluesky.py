"""The engine under Bluesky: an in-process RunEngine drives the ophyd-async devices and the flyer on
the simulated bench (sim://); every document is checked against event-model's schemas."""
import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.utils import RunEngineInterrupted
from event_model import DocumentNames, schema_validators
from ophyd_async.core import init_devices

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.arcus_stage import ArcusStage, AxisTravel, TravelLimitError
from pymodaq_plugins_aefi.adapters.h5_repository import H5ResultsRepository
from pymodaq_plugins_aefi.bluesky import (
    V_PER_M_PER_VOLT,
    AefiBoard,
    AefiFlyer,
    ArcusMotor,
    fly_raster,
    map_from_documents,
    raw_from_documents,
)
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanLineCorrelated
from pymodaq_plugins_aefi.domain.fly_scan import ScanStatus
from pymodaq_plugins_aefi.domain.measurement import CHANNEL_NAMES
from pymodaq_plugins_aefi.domain.quality import percentiles, relative_rms_error

_BENCHES = itertools.count()
#: aefi-flyscan's map tolerance on the simulator (tests/test_flyscan_cli.py)
MAP_RMS_REL_MAX = 0.03


def _bench(timing: str = "none") -> str:
    return f"sim://bluesky{next(_BENCHES)}?timing={timing}"


class Documents:
    """Every document of the runs, each validated against event-model's JSON schema as it comes."""

    def __init__(self):
        self.items = []

    def __call__(self, name, doc):
        schema_validators[DocumentNames(name)].validate(doc)
        self.items.append((name, doc))

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def named(self, name):
        return [doc for n, doc in self.items if n == name]


@pytest.fixture
def RE():
    engine = RunEngine({})
    yield engine
    if engine.state != "idle":
        engine.abort()


@pytest.fixture
def documents(RE):
    docs = Documents()
    RE.subscribe(docs)
    return docs


def _truth(x_mm, y_mm):
    return np.asarray(_engine.field_map_volts(np.ascontiguousarray(x_mm, dtype=float),
                                              np.ascontiguousarray(y_mm, dtype=float)))


def test_count_of_the_board_reads_six_channels_in_volts_and_field(RE, documents):
    url = _bench()
    with init_devices():
        board = AefiBoard.open(url, name="board")
    RE(bp.count([board], num=3))
    assert [n for n, _ in documents.items] == ["start", "descriptor", "event", "event", "event", "stop"]
    descriptor = documents.named("descriptor")[0]
    for channel in CHANNEL_NAMES:
        assert descriptor["data_keys"][f"board-{channel}"]["units"] == "V"
        assert descriptor["data_keys"][f"board-{channel}_field"]["units"] == "V/m"
    assert descriptor["configuration"]["board"]["data"]["board-v_per_m_per_volt"] == V_PER_M_PER_VOLT
    assert documents.named("stop")[0]["exit_status"] == "success"
    # the bench's stage sits at 0 mm: the readings are the simulated field there, plus the board's noise
    truth = _truth([0.0], [0.0])[0]
    for event in documents.named("event"):
        volts = np.array([event["data"][f"board-{c}"] for c in CHANNEL_NAMES])
        field = np.array([event["data"][f"board-{c}_field"] for c in CHANNEL_NAMES])
        np.testing.assert_allclose(field, volts * V_PER_M_PER_VOLT)
        assert np.all(np.abs(volts - truth) < 2e-3), (volts, truth)
    board.close()


def _motors_and_board(url):
    """The bench's X and Y motors (one shared controller) and its board, connected."""
    stage = ArcusStage.open(url)
    with init_devices():
        x = ArcusMotor(stage, "X", name="x")
        y = ArcusMotor(stage, "Y", name="y")
        board = AefiBoard.open(url, name="board")
    return stage, x, y, board


def test_scan_of_arcus_y_with_the_board_follows_the_field(RE, documents):
    url = _bench()
    stage, x, y, board = _motors_and_board(url)
    RE(bps.mv(x, 38.0))
    RE(bp.scan([board], y, 24.0, 40.0, 5))
    events = documents.named("event")
    assert len(events) == 5
    step_mm = stage.axis_config("Y").scale.step_mm
    ys = np.array([e["data"]["y"] for e in events])
    np.testing.assert_allclose(ys, np.linspace(24.0, 40.0, 5), atol=step_mm)
    assert list(documents.named("start")[-1]["motors"]) == ["y"]
    volts = np.array([[e["data"][f"board-{c}"] for c in CHANNEL_NAMES] for e in events])
    truth = _truth(np.full(5, 38.0), ys)
    assert relative_rms_error(volts, truth) < MAP_RMS_REL_MAX
    located = _on_loop(RE, y.locate())
    assert located == pytest.approx({"setpoint": 40.0, "readback": ys[-1]})
    assert stage.position_mm("Y") == pytest.approx(ys[-1])
    board.close()
    stage.close()


def _on_loop(RE, coroutine):
    """Await `coroutine` on the RunEngine's event loop (where the devices live)."""
    return asyncio.run_coroutine_threadsafe(coroutine, RE.loop).result(timeout=30)


def test_motor_signals_are_the_controllers_in_mm_and_limits_refuse_moves(RE):
    url = _bench()
    stage = ArcusStage.open(url)
    stage.configure_axis("Y", travel=AxisTravel(0.0, 100.0))
    with init_devices():
        y = ArcusMotor(stage, "Y", name="y")
    RE(bps.mv(y.velocity, 15.0))
    speeds = stage.speeds("Y")
    assert speeds.high_mm_s == pytest.approx(15.0, abs=stage.axis_config("Y").scale.step_mm)
    RE(bps.mv(y.acceleration, 150.0))
    speeds = stage.speeds("Y")
    assert (speeds.high_mm_s - speeds.low_mm_s) / (speeds.accel_ms / 1e3) == pytest.approx(150.0, rel=0.02)
    config = _on_loop(RE, y.read_configuration())
    assert config["y-low_limit_travel"]["value"] == 0.0 and config["y-high_limit_travel"]["value"] == 100.0
    before = stage.position_mm("Y")
    with pytest.raises(Exception) as info:
        RE(bps.mv(y, 150.0))
    assert isinstance(info.value, TravelLimitError) or "outside the travel" in str(info.value)
    assert stage.position_mm("Y") == before and not stage.is_moving("Y")
    stage.close()


#: A raster over the simulated sample's features (aefi-flyscan's defaults, fewer lines).
FLY = dict(fast_start_mm=14.0, fast_stop_mm=74.0, slow_start_mm=16.0, slow_stop_mm=58.0, lines=4,
           points_per_line=61, speed_mm_s=20.0, sample_rate_hz=1000.0)


def _fly_plan(flyer, config):
    """The four verbs by hand, as a Bluesky user writes a fly scan."""
    @bpp.run_decorator()
    def inner():
        yield from bps.prepare(flyer, config, wait=True)
        yield from bps.kickoff(flyer, wait=True)
        yield from bps.complete(flyer, wait=True)
        yield from bps.collect(flyer)

    return (yield from inner())


@pytest.mark.slow
def test_fly_plan_over_a_raster_maps_the_known_field(RE, documents, tmp_path):
    url = _bench("wire")
    flyer = AefiFlyer.on_bench(url, out_dir=tmp_path, name="aefi")
    config = FlyScanConfig(**FLY)
    progress = []
    RE(_watched(flyer, config, progress))
    assert documents.named("stop")[0]["exit_status"] == "success"
    names = {d["name"] for d in documents.named("descriptor")}
    assert names == {"aefi_raw", "aefi_map"}
    raw_keys = next(d for d in documents.named("descriptor") if d["name"] == "aefi_raw")["data_keys"]
    assert raw_keys["aefi_fast_mm"]["units"] == "mm" and raw_keys["aefi_z_in_phase"]["units"] == "V"
    map_keys = next(d for d in documents.named("descriptor") if d["name"] == "aefi_map")["data_keys"]
    assert map_keys["aefi_map_z_in_phase"]["shape"] == [61]
    # the map rebuilt from the documents against the field the simulator was given
    fast_mm, slow_mm, volts = map_from_documents(documents.items)
    assert volts.shape == (6, 4, 61)
    xx, yy = np.meshgrid(fast_mm, slow_mm)
    truth = _truth(xx.ravel(), yy.ravel()).T.reshape(volts.shape)
    rms = relative_rms_error(volts, truth)
    assert rms is not None and rms < MAP_RMS_REL_MAX, rms
    # every raw sample's fast position against where the simulated stage really was
    raw = raw_from_documents(documents.items)
    truth_steps = np.asarray(_engine.sim_truth(url, "X", np.ascontiguousarray(raw["t_ns"], dtype=np.int64)))
    step_mm = config.scale.step_mm
    errors = percentiles(np.abs(raw["fast_mm"] / step_mm - truth_steps))
    assert errors["p99"] <= 1.0, errors
    # the same numbers as the PyMoDAQ-format file the flyer saved
    saved = H5ResultsRepository(tmp_path).load(flyer.saved_to)
    assert saved.status is ScanStatus.COMPLETED and not saved.partial
    np.testing.assert_allclose(saved.map.volts, volts, equal_nan=True)
    assert len(saved.raw) == raw["t_ns"].size
    # progress on the complete status: lines done, up to all of them
    assert progress and progress[-1] == (4, 4) and all(t == 4 for _, t in progress)


def _watched(flyer, config, progress):
    @bpp.run_decorator()
    def inner():
        yield from bps.prepare(flyer, config, wait=True)
        yield from bps.kickoff(flyer, wait=True)
        status = yield from bps.complete(flyer, wait=False)
        status.watch(lambda current, target, **kw: progress.append((current, target)))
        yield from bps.wait()
        yield from bps.collect(flyer)

    return (yield from inner())


@pytest.mark.slow
def test_ctrl_c_mid_line_stops_the_motors_and_keeps_a_partial_readable_file(RE, documents, tmp_path):
    url = _bench("wire")
    stage = ArcusStage.open(url)  # the bench's motors, as Bluesky users hold them between scans
    config = FlyScanConfig(**FLY)
    flyer = AefiFlyer.on_bench(url, out_dir=tmp_path, name="aefi")

    def ctrl_c_twice():
        # the RunEngine's SIGINT handler: a deferred pause, then (a second Ctrl-C) an immediate one
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    class MidLine:
        def on_event(self, event):
            if isinstance(event, FlyScanLineCorrelated) and event.line == 0:
                threading.Timer(0.8, ctrl_c_twice).start()  # 16 mm into the second line

    flyer._observers.add(MidLine())
    with pytest.raises(RunEngineInterrupted):
        RE(fly_raster(flyer, config))
    assert RE.state == "paused"
    # paused: the flyer was told, the engine stopped the motors and kept the data
    deadline = time.monotonic() + 30
    while flyer.saved_to is None and time.monotonic() < deadline:  # results, then their file
        time.sleep(0.05)
    RE.abort()
    assert not stage.is_lent
    assert not stage.is_moving("X") and not stage.is_moving("Y")
    stop = documents.named("stop")[0]
    assert stop["exit_status"] == "abort"
    results = flyer.results
    assert results.status is ScanStatus.ABORTED and results.partial
    assert 1 <= results.lines_done < 4
    # the partial file reads back; the partial map also left as documents before the run closed
    saved = H5ResultsRepository(tmp_path).load(flyer.saved_to)
    assert saved.status is ScanStatus.ABORTED and saved.partial and saved.lines_done == results.lines_done
    fast_mm, slow_mm, volts = map_from_documents(documents.items)
    np.testing.assert_allclose(volts, saved.map.volts, equal_nan=True)
    # the first line flown whole (a cell may stay empty if a loaded machine held the trigger thread back
    # longer than a cell's 50 ms), the last one never started
    assert np.isfinite(volts[:, 0, :]).mean() >= 0.95 and not np.isfinite(volts[:, -1, :]).any()
    # the raw stream has every sample taken, the file those of the lines acquired (the interrupted
    # line's samples are in the documents only)
    raw = raw_from_documents(documents.items)
    in_file = np.isin(raw["t_ns"], saved.raw.t_ns)
    assert in_file.sum() == len(saved.raw) > 0
    assert set(raw["line"][~in_file].tolist()) <= {results.lines_done}
    stage.close()


def _readme_example() -> str:
    """The first python code block of README.md's "From Bluesky" section, exactly as written."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## From Bluesky\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_readme_example_runs_and_prints_the_figures_of_aefi_flyscan(tmp_path):
    done = subprocess.run([sys.executable, "-c", _readme_example()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    samples, lines = (int(v) for v in re.search(r"(\d+) samples, (\d+) lines", out).groups())
    assert lines == 8 and samples > 20_000
    p50, p99 = (float(v) for v in re.search(r"positions vs truth: p50 ([\d.]+) / p99 ([\d.]+) steps", out).groups())
    assert p50 <= p99 <= 1.0
    rms_percent = float(re.search(r"map RMS error ([\d.]+) % of range", out).group(1))
    assert rms_percent < 100 * MAP_RMS_REL_MAX
    saved = re.search(r"saved to (\S+)", out).group(1)
    assert H5ResultsRepository(tmp_path).load(str(tmp_path / saved)).status is ScanStatus.COMPLETED


def test_grid_scan_of_both_axes_with_the_board(RE, documents):
    url = _bench()
    stage, x, y, board = _motors_and_board(url)
    RE(bp.grid_scan([board], y, 26.0, 38.0, 3, x, 26.0, 50.0, 4, snake_axes=True))
    events = documents.named("event")
    assert len(events) == 12
    xs = np.array([e["data"]["x"] for e in events])
    ys = np.array([e["data"]["y"] for e in events])
    step_mm = stage.axis_config("X").scale.step_mm
    np.testing.assert_allclose(sorted(set(np.round(ys, 1))), [26.0, 32.0, 38.0], atol=step_mm)
    np.testing.assert_allclose(xs[4:8], np.linspace(50.0, 26.0, 4), atol=step_mm)  # the snake's way back
    volts = np.array([[e["data"][f"board-{c}"] for c in CHANNEL_NAMES] for e in events])
    assert relative_rms_error(volts, _truth(xs, ys)) < MAP_RMS_REL_MAX
    board.close()
    stage.close()


@pytest.mark.slow
def test_pause_then_stop_keeps_the_partial_scan_and_closes_the_run(RE, documents, tmp_path):
    url = _bench()
    stage = ArcusStage.open(url)
    flyer = AefiFlyer.on_bench(url, out_dir=tmp_path, name="aefi")

    class MidLine:
        def on_event(self, event):
            if isinstance(event, FlyScanLineCorrelated) and event.line == 1:
                threading.Timer(1.0, RE.request_pause, kwargs={"defer": False}).start()

    flyer._observers.add(MidLine())
    with pytest.raises(RunEngineInterrupted):
        RE(fly_raster(flyer, FlyScanConfig(**FLY)))
    RE.stop()
    assert documents.named("stop")[0]["exit_status"] == "success"
    assert not stage.is_moving("X") and not stage.is_moving("Y")
    results = flyer.results
    assert results.status is ScanStatus.ABORTED and results.lines_done == 2
    saved = H5ResultsRepository(tmp_path).load(flyer.saved_to)
    assert saved.partial and saved.lines_done == 2
    _, _, volts = map_from_documents(documents.items)
    np.testing.assert_allclose(volts, saved.map.volts, equal_nan=True)
    stage.close()
