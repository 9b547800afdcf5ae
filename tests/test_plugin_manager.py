"""Plugin-manager readiness, read from the *installed* distribution as PyMoDAQ's plugin manager reads it.

The plugin manager (pymodaq_plugin_manager.validate) lists PyPI projects whose name holds `pymodaq`
and `plugins`, keeps the releases whose `pymodaq` requirement admits the running PyMoDAQ, and calls a
plugin "installed" when it has a `pymodaq.plugins` entry point whose value names the distribution.
"""
from importlib import metadata

import pymodaq
from packaging.version import Version
from pymodaq_plugin_manager.validate import get_entrypoints, get_pymodaq_specifier

DIST = "pymodaq_plugins_aefi"


def test_distribution_name_is_found_by_the_manager_filter():
    name = metadata.metadata(DIST)["Name"]
    # get_pypi_package_list(['pymodaq', 'plugins']) keeps names holding both words, then '-' → '_'
    assert all(word in name for word in ("pymodaq", "plugins"))
    assert name.replace("-", "_") == DIST


def test_pymodaq_requirement_admits_the_running_version():
    specifier = get_pymodaq_specifier(metadata.requires(DIST))
    assert str(specifier), "no pymodaq requirement: the manager would assume >3.0,<4.0"
    assert Version(pymodaq.__version__).base_version in specifier


def test_installed_entry_point_names_the_distribution():
    entries = [e for e in get_entrypoints("pymodaq.plugins") if e.value == DIST]
    assert [e.name for e in entries] == ["aefi"]
    # the manager then asks the version of the distribution named by the entry point's value
    assert metadata.version(entries[0].value) == metadata.version(DIST)
    assert any(e.value == DIST for e in get_entrypoints("pymodaq.instruments"))


def test_summary_and_home_page_for_the_manager_listing():
    meta = metadata.metadata(DIST)
    assert meta["Summary"]
    assert any("github.com" in url for url in meta.get_all("Project-URL") or [])
