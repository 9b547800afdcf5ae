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
