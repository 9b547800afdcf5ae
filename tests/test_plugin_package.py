"""PyMoDAQ's own acceptance checks and plugin discovery (what the Dashboard will list)."""
from pymodaq.utils.plugin_testing import PluginPackageChecks


class TestPackage(PluginPackageChecks):
    package_name = "pymodaq_plugins_aefi"
    fail_on = "todo"  # the strictest level: any finding fails
    strict_imports = True


def _names(kind):
    from pymodaq.utils.daq_utils import get_plugins

    return [p["name"] for p in get_plugins(kind)]


def test_dashboard_discovers_the_actuator():
    assert "AEFI" in _names("daq_move")



def test_dashboard_discovers_the_flyscan_viewers():
    assert "AEFIFlyscan" in _names("daq_1Dviewer")
    assert "AEFIFlyscan" in _names("daq_2Dviewer")
