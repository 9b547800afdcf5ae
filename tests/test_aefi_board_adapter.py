"""The board adapter: input checks before the wire, and the link lease shared with the flyscan."""
import itertools

import numpy as np
import pytest

from pymodaq_plugins_aefi.adapters.aefi_board import (
    AefiBoard,
    BoardBusyError,
    BoardSettings,
    board_arbiter,
    board_url,
    check_n_avg,
)
from pymodaq_plugins_aefi.adapters.port_arbiter import PortArbiter

_NAMES = itertools.count()


class FakeBoardLink:
    """Stands in for _engine.BoardController: records calls, returns the call count as volts."""

    is_lent = False

    def __init__(self, url):
        self.url, self.calls, self.closed = url, [], False

    def measure(self, n_avg=1):
        self.calls.append(("measure", n_avg))
        return np.full(6, float(len(self.calls)))

    def measure_timed(self, n_avg=1):
        self.calls.append(("measure_timed", n_avg))
        return {"volts": np.zeros(6), "t_mid_ns": 1}

    def configure(self, **settings):
        self.calls.append(("configure", settings))
        return 28

    def close(self):
        self.closed = True


@pytest.fixture
def url():
    return f"sim://boardfake{next(_NAMES)}"


@pytest.mark.parametrize("bad", [0, 256, -3, 2.5, True, "10"])
def test_n_avg_is_refused_with_its_range(bad):
    with pytest.raises((ValueError, TypeError), match="n_avg|invalid literal"):
        check_n_avg(bad)


def test_serial_urls_get_the_board_baud():
    assert board_url("serial:///dev/ttyACM0") == "serial:///dev/ttyACM0?baud=1500000"
    assert board_url("serial:///dev/ttyACM0?baud=115200") == "serial:///dev/ttyACM0?baud=115200"
    assert board_url("sim://bench") == "sim://bench"


def test_board_and_arcus_of_one_sim_bench_have_separate_arbiters(url):
    arcus = PortArbiter.for_url(url, opener=FakeBoardLink)
    assert board_arbiter(url, FakeBoardLink) is not arcus
    assert board_arbiter(url + "?timing=none", FakeBoardLink) is board_arbiter(url, FakeBoardLink)


def test_flyscan_lease_takes_the_viewers_link_and_gives_it_back(url):
    board = AefiBoard.open(url, opener=FakeBoardLink)
    link = board.controller
    settings = BoardSettings(adc_gains=(2, 2, 2, 2))
    board.configure(settings)
    assert board.measure(5)[0] == 2.0
    with pytest.raises(RuntimeError), board_arbiter(url).lease("flyscan") as lent:
        assert lent is link
        with pytest.raises(BoardBusyError, match="flyscan"):
            board.measure(1)
        raise RuntimeError("fault during the scan")
    # back home, and the configuration written again (a scan may have changed registers)
    assert board.controller is link
    assert link.calls[-1][0] == "configure"
    assert board.measure(1).shape == (6,)
    board.close()
    assert link.closed and board_arbiter(url).holder is None


def test_bad_settings_are_refused_before_anything_is_written():
    with pytest.raises(ValueError, match="adc_gains\\[1\\]"):
        BoardSettings(adc_gains=(1, 3, 1, 1))
    with pytest.raises(ValueError, match="osr"):
        BoardSettings(osr=1000)
    with pytest.raises(ValueError, match="dds_frequency_hz"):
        BoardSettings(dds_frequency_hz=0.0)
    assert BoardSettings(dds_phases_deg=(0.0, 180.0, 90.0, 0.0)).as_kwargs()["dds_phases"] == (0, 32768, 16384, 0)
