"""The HDF5 repository: PyMoDAQ's own loader reads what it writes; ScanResults round-trip exactly."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.adapters.h5_repository import H5ResultsRepository, load_results
from pymodaq_plugins_aefi.application.study_service import StudyService
from pymodaq_plugins_aefi.domain import CHANNEL_NAMES, FlyScanConfig, LineState, ScanStatus
from pymodaq_plugins_aefi.testing.fakes import FakeScanPort

CONFIG = FlyScanConfig(fast_start_mm=20, fast_stop_mm=60, slow_start_mm=10, slow_stop_mm=40, lines=4,
                       points_per_line=21, speed_mm_s=20, sample_rate_hz=200, fast_axis="Y", slow_axis="X")


def run(tmp_path, **port_options):
    repo = H5ResultsRepository(tmp_path, "scan.h5")
    outcome = StudyService(FakeScanPort(**port_options), repo).run_study(CONFIG)
    return outcome, repo


def test_round_trip(tmp_path):
    outcome, repo = run(tmp_path)
    assert outcome.location == str(tmp_path / "scan.h5")
    original, loaded = outcome.results, repo.load(outcome.location)
    assert loaded.scan_id == original.scan_id and loaded.config == original.config
    assert loaded.status is ScanStatus.COMPLETED and not loaded.partial
    np.testing.assert_array_equal(loaded.map.volts, original.map.volts)
    np.testing.assert_array_equal(loaded.map.counts, original.map.counts)
    np.testing.assert_array_equal(loaded.map.fast_axis_mm, original.map.fast_axis_mm)
    np.testing.assert_array_equal(loaded.map.slow_axis_mm, original.map.slow_axis_mm)
    for name, column in original.raw.columns().items():
        got = loaded.raw.columns()[name]
        assert got.dtype == column.dtype, name
        np.testing.assert_array_equal(got, column, err_msg=name)
    assert loaded.lines == original.lines
    assert loaded.stats == original.stats and loaded.provenance == original.provenance


def test_pymodaq_loader_sees_a_2d_map_with_mm_axes(tmp_path):
    from pymodaq_data.h5modules.data_saving import DataLoader

    outcome, _ = run(tmp_path)
    with DataLoader(tmp_path / "scan.h5") as loader:
        dwa = loader.load_data("/RawData/Detector000/Data2D/CH00/Data00", load_all=True)
        raw = loader.load_data("/RawData/Detector000/Data1D/CH00/Data00", load_all=True)
        group = loader.get_node("/RawData/Detector000")
        assert group.attrs["status"] == "completed" and group.attrs["partial"] is False
        assert '"speed_mm_s": 20' in group.attrs["config"]
    assert dwa.dim.name == "Data2D" and dwa.labels == list(CHANNEL_NAMES) and dwa.units == "V"
    assert len(dwa) == 6 and dwa.shape == (4, 21)
    slow, fast = dwa.get_axis_from_index(0)[0], dwa.get_axis_from_index(1)[0]
    assert (slow.units, fast.units) == ("mm", "mm") and slow.label.startswith("X") and fast.label.startswith("Y")
    np.testing.assert_allclose(fast.get_data(), np.linspace(20, 60, 21))
    np.testing.assert_allclose(slow.get_data(), np.linspace(10, 40, 4))
    assert raw.dim.name == "Data1D" and raw.size == outcome.results.samples


def test_aborted_partial_scan_round_trips_with_its_status(tmp_path):
    outcome, repo = run(tmp_path, abort_after_lines=2)
    loaded = repo.load(outcome.location)
    assert loaded.status is ScanStatus.ABORTED and loaded.partial and loaded.lines_done == 2
    assert [line.state for line in loaded.lines] == [LineState.CORRELATED] * 2 + [LineState.PENDING] * 2
    assert np.isnan(loaded.map.volts[:, 2:]).all()


def test_scan_aborted_before_any_sample(tmp_path):
    outcome, repo = run(tmp_path, abort_after_lines=0)
    loaded = repo.load(outcome.location)
    assert loaded.status is ScanStatus.ABORTED and len(loaded.raw) == 0 and np.isnan(loaded.map.volts).all()


def test_foreign_file_is_refused(tmp_path):
    from pymodaq_data.h5modules.saving import H5SaverLowLevel

    h5 = H5SaverLowLevel.from_file(tmp_path / "other.h5", new_file=True)
    h5.close_file()
    with pytest.raises(ValueError, match="no 'AEFI flyscan' group"):
        load_results(tmp_path / "other.h5")
