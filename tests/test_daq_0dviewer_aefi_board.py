"""DAQ_0DViewer_AEFIBoard driven the way the Dashboard does it (PyMoDAQ's plugin-testing harness)."""
import itertools

import numpy as np
import pytest
from pymodaq.utils.plugin_testing import assert_units, grab_and_wait, make_detector

from pymodaq_plugins_aefi.adapters.aefi_board import CHANNEL_NAMES, board_arbiter
from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_0D.daq_0Dviewer_AEFIBoard import DAQ_0DViewer_AEFIBoard

pytestmark = pytest.mark.gui
_BENCHES = itertools.count()
PROBE_STEPS = (1743, 1468)  # the stage counters put the probe on the strongest feature


@pytest.fixture
def url():
    # each test its own simulated bench; no reply pacing (fast)
    from pymodaq_plugins_aefi import _engine

    name = f"viewer{next(_BENCHES)}"
    with _engine.ArcusController(f"sim://{name}?timing=none") as arcus:
        arcus.set_position("X", PROBE_STEPS[0])
        arcus.set_position("Y", PROBE_STEPS[1])
    return f"sim://{name}?timing=none"


def _channels(dte) -> np.ndarray:
    (dwa,) = dte.get_data_from_dim("Data0D")
    assert list(dwa.labels) == list(CHANNEL_NAMES)
    return np.array([d[0] for d in dwa.data])


def test_grab_returns_six_channels_in_volts(url, qtbot):
    plugin = make_detector(DAQ_0DViewer_AEFIBoard, url=url, n_avg=10)
    assert plugin.initialized, plugin.init_info
    dte = grab_and_wait(plugin)
    assert_units(dte, "V")
    volts = _channels(dte)
    from pymodaq_plugins_aefi import _engine

    truth = _engine.field_map_volts(np.array([PROBE_STEPS[0] * 0.0218]), np.array([PROBE_STEPS[1] * 0.0218]))[0]
    np.testing.assert_allclose(volts, truth, atol=5e-4)
    plugin.close()


def test_grab_while_a_flyscan_has_the_board_reports_the_borrower(url, qtbot):
    plugin = make_detector(DAQ_0DViewer_AEFIBoard, url=url)
    assert plugin.initialized, plugin.init_info
    seen = []
    plugin.emit_status = lambda command: seen.append(str(command.attribute))
    with board_arbiter(url).lease("flyscan") as lent:
        assert lent is not None
        volts = _channels(grab_and_wait(plugin))
        assert np.all(np.isnan(volts))
        assert any("flyscan" in s for s in seen), seen
    assert np.all(np.isfinite(_channels(grab_and_wait(plugin))))
    plugin.close()


def test_apply_configuration_writes_the_board_registers(url, qtbot):
    plugin = make_detector(DAQ_0DViewer_AEFIBoard, url=url)
    seen = []
    plugin.emit_status = lambda command: seen.append(str(command.attribute))
    plugin.settings.child("excitation", "reference_gain").setValue(16_376)
    plugin.commit_settings(plugin.settings.child("apply_config"))
    assert any("configuration written" in s for s in seen), seen
    plugin.close()


def test_bad_url_fails_initialisation_with_a_message(qtbot):
    plugin = make_detector(DAQ_0DViewer_AEFIBoard, url="serial:///dev/does-not-exist")
    assert not plugin.initialized
    assert "does-not-exist" in plugin.init_info
