"""Fault matrix, ring full: a consumer that stops collecting lets the engine's record ring fill;
the samples it then drops are counted exactly (the engine's count, the gaps in the sequence
numbers), reported in stats.json and in the HDF5 file's attributes, the lines that lost samples
and the scan are marked partial, and the scan goes on to its end."""
import json
import threading
import time

import h5py
import numpy as np
import pytest

from pymodaq_plugins_aefi.adapters.h5_repository import load_results
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS, build_stats
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanProgress
from pymodaq_plugins_aefi.domain.results import dropped_by_line
from pymodaq_plugins_aefi.domain.samples import RawSamples, SampleFlag

RING_RECORDS = 1024  # the smallest ring the engine accepts
TWO_LINES = dict(DEFAULTS, lines=2, slow_start_mm=30.0, slow_stop_mm=32.0, detector="virtual_probe")
ENOUGH_DROPS = 200


def pymodaq_attr(group, name):
    """An attribute as PyMoDAQ's saver writes it: JSON {"module", "type", "data"}, data as text."""
    value = group.attrs[name]
    if value.startswith("{") and '"module"' in value:
        data = json.loads(value)["data"]
        return data.strip("'") if json.loads(value)["type"] == "str" else data
    return value


class StallTheConsumer:
    """Blocks the thread that collects (observers run on it) once the first line flies, until the
    engine reports drops: the ring is then full by construction, whatever the machine's speed."""

    def __init__(self) -> None:
        self.port = None
        self.fired = threading.Event()
        self.seen_dropped = 0

    def on_event(self, event):
        if self.fired.is_set() or not (isinstance(event, FlyScanProgress) and event.state == "flying"):
            return
        self.fired.set()
        status = self.port.complete()
        while True:
            progress = status.progress()
            if progress.dropped_records >= ENOUGH_DROPS or progress.finished:
                self.seen_dropped = progress.dropped_records
                return
            time.sleep(0.005)


def test_a_full_ring_drops_are_counted_exactly_reach_the_file_and_mark_the_scan_partial(tmp_path):
    url = "sim://ring-full?baud=115200&timing=wire"
    staller = StallTheConsumer()
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[staller], ring_capacity=RING_RECORDS)
    staller.port = app.scan_port
    outcome = app.service.run_study(FlyScanConfig(**TWO_LINES))
    results = outcome.results
    assert staller.fired.is_set() and staller.seen_dropped >= ENOUGH_DROPS

    dropped = results.stats["dropped_records"]
    assert results.status.value == "completed", results.error  # the scan goes on
    assert dropped >= ENOUGH_DROPS
    # exact: every sample the engine numbered is either in the results or counted as dropped
    seq = np.sort(results.raw.seq.astype(np.int64))
    assert np.all(np.diff(seq) >= 1)
    gaps = int(np.sum(np.diff(seq) - 1)) + int(seq[0])
    # the engine's `samples` counts every sample acquired, dropped ones included
    assert results.samples + dropped == results.stats["samples"]
    assert gaps <= dropped and seq[-1] + 1 + (dropped - gaps) == results.stats["samples"]
    assert results.dropped_samples == dropped == sum(line.dropped for line in results.lines)
    assert results.partial and results.lines[0].partial and results.lines[0].dropped > 0

    # stats.json carries the engine's count
    stats = build_stats(results, url, True, None)
    assert json.loads(json.dumps(stats))["dropped_records"] == dropped

    # the file: attributes on the scan's groups (PyMoDAQ keeps a saver's metadata on /RawData), per
    # line, and read back
    with h5py.File(outcome.location, "r") as f:
        scan_group = f["RawData"]
        assert pymodaq_attr(scan_group, "dropped_samples") == str(dropped)
        assert pymodaq_attr(scan_group, "partial") == "True"
        detector = [g for g in scan_group.values() if "dropped_samples" in g.attrs][0]
        assert pymodaq_attr(detector, "dropped_samples") == str(dropped)
        lines = json.loads(pymodaq_attr(detector, "lines"))
        assert [line["dropped"] for line in lines] == [line.dropped for line in results.lines]
        assert lines[0]["partial"]
    back = load_results(outcome.location)
    assert back.samples == results.samples and back.dropped_samples == dropped and back.partial
    assert [line.dropped for line in back.lines] == [line.dropped for line in results.lines]


def raw_of(seq, line, flags):
    n = len(seq)
    columns = {"seq": np.asarray(seq, np.uint64), "t_ns": np.arange(n, dtype=np.int64),
               "line": np.asarray(line, np.uint32), "fast_mm": np.zeros(n), "slow_mm": np.zeros(n),
               "pos_err_mm": np.zeros(n), "flags": np.asarray(flags, np.uint32), "channels_volts": np.zeros((n, 6))}
    return RawSamples.from_columns({k: v.astype(RawSamples.empty().columns()[k].dtype) for k, v in columns.items()})


F, L = int(SampleFlag.LINE_FIRST), int(SampleFlag.LINE_LAST)


@pytest.mark.parametrize("seq, line, flags, total, expected", [
    # inside a line
    ([0, 1, 5, 6], [0, 0, 0, 0], [F, 0, 0, L], 3, {0: 3}),
    # at a boundary: line 0's last sample arrived, so line 1 lost its head
    ([0, 1, 4, 5], [0, 0, 1, 1], [F, L, 0, L], 2, {1: 2}),
    # line 1's first sample arrived, so line 0 lost its tail
    ([0, 1, 4, 5], [0, 0, 1, 1], [F, 0, F, L], 2, {0: 2}),
    # neither edge arrived: both lines lost samples
    ([0, 1, 4, 5], [0, 0, 1, 1], [F, 0, 0, L], 2, {0: 2, 1: 2}),
    # before the first sample received, and after the last (beyond the gaps)
    ([3, 4, 5], [0, 0, 0], [0, 0, 0], 3 + 4, {0: 7}),
    ([0, 1], [0, 0], [F, L], 0, {}),
])
def test_dropped_samples_are_placed_on_the_lines_by_their_sequence_gaps(seq, line, flags, total, expected):
    assert dropped_by_line(raw_of(seq, line, flags), total) == expected
