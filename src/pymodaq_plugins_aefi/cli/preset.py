"""aefi-preset: the PyMoDAQ dashboard preset (experiment) of the AEFI bench on the simulator.

It declares the stage axes X (master) and Y (slave, same controller) of DAQ_Move_AEFI and the two
flyscan viewers (1D: one line per grab, 2D: a raster per grab), all on the plugins' default link
`sim://bench`. Without options the command prints the path of the preset shipped in the package;
`--install` copies it into PyMoDAQ's experiments folder, where the Dashboard lists it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

PRESET_NAME = "aefi_flyscan_sim"
PRESET_PATH = Path(__file__).resolve().parents[1] / "resources" / f"{PRESET_NAME}.xml"


def install(folder: Optional[Path] = None) -> Path:
    """Copy the preset into `folder` (default: PyMoDAQ's experiments folder); returns the copy's path."""
    if folder is None:
        from pymodaq.utils.config import get_set_experiment_path  # imports PyMoDAQ: only when installing

        folder = get_set_experiment_path()
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(PRESET_PATH, folder / PRESET_PATH.name))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="aefi-preset", description=__doc__.splitlines()[0],
                                     epilog="then: dashboard -x aefi_flyscan_sim  (or Dashboard > File > "
                                            "Load experiment)")
    parser.add_argument("--install", action="store_true",
                        help="copy the preset into PyMoDAQ's experiments folder and print where it went")
    parser.add_argument("--folder", type=Path, help="with --install: copy into this folder instead")
    args = parser.parse_args(argv)
    if not args.install:
        print(PRESET_PATH)
        return 0
    target = install(args.folder)
    print(target)
    print(f"load it with: dashboard -x {PRESET_NAME}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
