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


def test_check_plugin_passes_at_its_strictest(tmp_path):
    """PyMoDAQ's own checker, as its maintainers run it: every finding fails, imports included."""
    import subprocess
    import sys
    from pathlib import Path

    run = subprocess.run([str(Path(sys.executable).parent / "check_plugin"), DIST, "--fail-on", "todo",
                          "--strict-imports", "--color", "never"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 todo(s) left" in run.stdout


def test_compatibility_checker_import_scan_finds_no_failure():
    """The maintainers' compatibility run executes every top-level import naming `pymodaq` as written;
    a relative import of a module whose name holds `pymodaq` would be reported as failing."""
    from pymodaq_plugin_manager.compatibility_checker import PyMoDAQPlugin

    plugin = PyMoDAQPlugin(DIST, None)
    assert plugin.all_imports_valid(), plugin.failed_imports
    assert plugin.units_valid(), plugin.failed_units
    assert plugin.failed_other == []


def test_generated_plugin_list_shows_the_four_instruments(tmp_path, monkeypatch):
    """The manager's list (write_plugin_doc) parses the PyPI description, i.e. README.md, for the
    template's Actuators / Viewer0D / Viewer1D / Viewer2D sections and their `* **Name**:` bullets."""
    from pymodaq_plugin_manager import validate

    meta = metadata.metadata(DIST)
    description = meta["Description"] or meta.get_payload()
    plugin = {"plugin-name": DIST, "display-name": "Aefi", "version": meta["Version"], "id": "", "repository": "",
              "description": description, "instruments": "", "authors": [meta["Author-email"]], "contributors": [],
              "homepage": "https://github.com/aefi-bench/pymodaq_plugins_aefi"}
    monkeypatch.setattr(validate, "get_pypi_plugins", lambda *args, **kwargs: [plugin])
    # it reads README_base.md and writes doc/PluginList.md two folders above its own file
    monkeypatch.setattr(validate, "__file__", str(tmp_path / "src" / "pymodaq_plugin_manager" / "validate.py"))
    (tmp_path / "README_base.md").write_text("")
    (tmp_path / "doc").mkdir()
    validate.write_plugin_doc()
    listing = (tmp_path / "doc" / "PluginList.md").read_text()
    instruments = listing.split("|")[-2]  # the last cell of the plugin's row
    sections = [(head, instruments.index(head)) for head in ("Actuators", "Viewer0D", "Viewer1D", "Viewer2D")]
    assert [index for _, index in sections] == sorted(index for _, index in sections), instruments
    assert instruments.count("<li>") == 4, instruments
    for name, head in (("AEFI", "Actuators"), ("AEFIBoard", "Viewer0D"), ("AEFIFlyscan", "Viewer1D"),
                       ("AEFIFlyscan", "Viewer2D")):
        section = instruments[instruments.index(head):]
        assert section.split("</ul>")[0].count(f"**{name}**:") == 1, (head, instruments)
