"""Hermetic test session: offscreen Qt, a throw-away HOME and /etc for PyMoDAQ's config files.

Everything here runs before any test module imports pymodaq (pytest imports conftest first).
"""
import os
import sys
import tempfile
from pathlib import Path

_SANDBOX = Path(tempfile.mkdtemp(prefix="aefi-tests-"))
_HERMETIC = Path(__file__).parent / "hermetic"

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["HOME"] = str(_SANDBOX / "home")
os.environ["AEFI_TEST_ETC"] = str(_SANDBOX / "etc")
os.environ["MPLBACKEND"] = "Agg"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(_HERMETIC)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
sys.path.insert(0, str(_HERMETIC))
import sitecustomize as _hermetic  # noqa: E402  (this folder's, not site's)

_hermetic.install()


def _prewrite_user_config() -> None:
    # Written before pymodaq creates them from its templates: no popups in DAQ_Scan, data saved in
    # the sandbox (the default is C:\Data, which becomes a folder of that name in the cwd on Linux),
    # and no `pip freeze` environment backup on every import.
    config_dir = Path(os.environ["HOME"]) / ".pymodaq" / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    data_dir = _SANDBOX / "data"
    data_dir.mkdir(exist_ok=True)
    (config_dir / "data.toml").write_text(f'[data_saving.h5file]\nsave_path = "{data_dir}"\n')
    (config_dir / "pymodaq.toml").write_text("[scan]\nshow_popups = false\n")
    (config_dir / "utils.toml").write_text("[backup]\nkeep_backup = false\n")


_prewrite_user_config()


def pytest_report_header(config):
    return f"aefi sandbox: {_SANDBOX}"
