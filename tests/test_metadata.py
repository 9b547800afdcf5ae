"""plugin_info.toml (legacy PyMoDAQ layout) must state the same facts as pyproject.toml (what 5.3 reads)."""
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PLUGIN_INFO = tomllib.loads((ROOT / "plugin_info.toml").read_text())


def test_short_name_matches_distribution_and_entry_points():
    short = PLUGIN_INFO["plugin-info"]["SHORT_PLUGIN_NAME"]
    name = PYPROJECT["project"]["name"]
    assert name == f"pymodaq_plugins_{short}"
    for group in ("pymodaq.plugins", "pymodaq.instruments"):
        assert PYPROJECT["project"]["entry-points"][group] == {short: name}


@pytest.mark.parametrize("key", ["instruments", "extensions", "models", "h5exporters", "scanners"])
def test_features_agree(key):
    assert PLUGIN_INFO["features"][key] == PYPROJECT["features"][key]


def test_description_url_and_people_agree():
    info, project = PLUGIN_INFO["plugin-info"], PYPROJECT["project"]
    assert info["description"] == project["description"]
    assert info["package-url"] == PYPROJECT["urls"]["package-url"] == project["urls"]["Homepage"]
    assert {"name": info["author"], "email": info["author-email"]} in project["authors"]


def test_license_agrees_with_license_file():
    assert PYPROJECT["project"]["license"] == {"file": "LICENSE"}
    assert PLUGIN_INFO["plugin-info"]["license"] in (ROOT / "LICENSE").read_text().splitlines()[0]


def test_pymodaq_requirement_is_declared():
    deps = PYPROJECT["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("pymodaq>=5.3") for d in deps), deps


def test_os_classifiers_are_those_pymodaq_derives_from_supported_platforms():
    from pymodaq_utils.plugin_tools.platforms import classifiers_for, package_platforms

    package = ROOT / "src" / "pymodaq_plugins_aefi"
    platforms = package_platforms(package)
    assert platforms == {"win32", "linux", "darwin"}  # every plugin class declares it: compiled code
    os_classifiers = [c for c in PYPROJECT["project"]["classifiers"] if c.startswith("Operating System ::")]
    assert sorted(os_classifiers) == sorted(classifiers_for(platforms))


def test_licence_classifier_matches_the_licence_file():
    assert "MIT License" in (ROOT / "LICENSE").read_text().splitlines()[0]
    assert "License :: OSI Approved :: MIT License" in PYPROJECT["project"]["classifiers"]


def test_no_qt_binding_is_required_but_the_tests_bring_one():
    bindings = ("pyqt5", "pyqt6", "pyside2", "pyside6")
    required = [d for d in PYPROJECT["project"]["dependencies"] if d.lower().startswith(bindings)]
    assert required == [], "the binding comes from the user's PyMoDAQ install"
    assert any(d.lower().startswith(bindings) for d in PYPROJECT["project"]["optional-dependencies"]["test"])


def test_version_is_stated_once_in_the_cargo_workspace():
    from importlib import metadata

    from pymodaq_plugins_aefi import __version__, _engine

    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert "version" not in PLUGIN_INFO["plugin-info"]
    for crate in ("aefi-scan-engine", "aefi-scan-engine-py"):
        manifest = tomllib.loads((ROOT / "src" / "rust" / crate / "Cargo.toml").read_text())
        assert manifest["package"]["version"] == {"workspace": True}
    assert metadata.version("pymodaq_plugins_aefi") == __version__ == _engine.__version__ == cargo
