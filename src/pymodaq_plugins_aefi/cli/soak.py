"""`aefi-soak MINUTES`: flyscans on the embedded simulator, one after the other, each with a fault
from the fault matrix drawn at random and injected mid-line; after each run it checks that the port
is free, the motors stopped (after a lost link: that the error says where the axes may still be
going, since the STOP may not have reached the controller), the file readable and every sample the
engine acquired saved.

Prints one line per run and the counts at the end; exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: Faults and what the scan must end as. Each is injected once the line has `AFTER_SAMPLES` samples.
FAULTS: dict[str, tuple[str, str]] = {
    "none": ("", "completed"),
    "abort": ("", "aborted"),
    "garble": ("garble", "completed"),
    "drop": ("drop", "completed"),
    "corrupt": ("corrupt", "completed"),  # position replies that lose a digit: read again, never fitted
    "late": ("delay", "failed"),
    "disconnect": ("disconnect", "failed"),
    "limit": ("limit", "failed"),
}
AFTER_SAMPLES = 300
_BENCHES = itertools.count()
STEP_MM = 0.0218


@dataclass(frozen=True)
class RunReport:
    fault: str
    status: str
    acquired: int
    saved: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _config(rng: random.Random) -> Any:
    from ..cli.flyscan import DEFAULTS
    from ..domain.config import FlyScanConfig

    lines = rng.choice((1, 2))
    return FlyScanConfig(**dict(DEFAULTS, lines=lines, fast_start_mm=20.0, fast_stop_mm=50.0, points_per_line=31,
                                slow_start_mm=30.0, slow_stop_mm=30.0 + 2.0 * (lines - 1), detector="virtual_probe"))


class _Injector:
    """Injects the fault into the simulator (or aborts) once, mid-line, from the scan's observer."""

    def __init__(self, url: str, fault: str, abort: Callable[[], None]) -> None:
        self.url, self.fault, self.abort, self.fired = url, fault, abort, threading.Event()

    def on_event(self, event: Any) -> None:
        from .. import _engine
        from ..domain.events import FlyScanProgress

        if self.fault == "none" or self.fired.is_set():
            return
        if not (isinstance(event, FlyScanProgress) and event.state == "flying" and event.samples >= AFTER_SAMPLES):
            return
        self.fired.set()
        kind = FAULTS[self.fault][0]
        if self.fault == "abort":
            threading.Thread(target=self.abort).start()  # as a GUI Stop or a signal handler would
        elif self.fault == "limit":
            # a + limit switch 200 steps ahead of the axis on this forward line
            _engine.sim_inject_fault(self.url, "limit", axis="X", position_steps=int(event.fast_mm / STEP_MM) + 200)
        elif kind == "delay":
            _engine.sim_inject_fault(self.url, "delay", delay_ms=3000.0, count=20)
        elif kind in ("garble", "drop", "corrupt"):
            _engine.sim_inject_fault(self.url, kind, count=2)
        else:
            _engine.sim_inject_fault(self.url, kind)


def run_once(index: int, fault: str, rng: random.Random, out: Path) -> RunReport:
    from .. import _engine
    from ..adapters.h5_repository import load_results
    from ..bootstrap import build_flyscan

    # a bench of its own: sim:// benches live as long as the process, and one a limit fault latched
    # must not be met again by a later soak in the same process
    url = f"sim://soak-{next(_BENCHES)}?baud={rng.choice((9600, 38400, 115200))}&timing=wire"
    holder: dict[str, Any] = {}
    injector = _Injector(url, fault, lambda: holder["app"].service.abort())
    app = build_flyscan(url, out_dir=out, file_name=f"run{index}.h5", observers=[injector])
    holder["app"] = app
    outcome = app.service.run_study(_config(rng))
    results = outcome.results
    problems = []
    expected = FAULTS[fault][1]
    if fault != "none" and not injector.fired.is_set():
        expected = "completed"  # the line ended before the fault could be injected
    if results.status.value != expected:
        problems.append(f"ended {results.status.value}, expected {expected} ({results.error})")
    acquired = int(results.stats.get("samples", -1))
    saved = load_results(outcome.location).samples
    if saved != acquired:
        problems.append(f"saved {saved} of {acquired} samples")
    link_lost = fault == "disconnect" and injector.fired.is_set()
    if link_lost and "may still be moving" not in (results.error or ""):
        problems.append(f"a lost link's error does not say where the axes may be going: {results.error}")
    _engine.sim_inject_fault(url, "reconnect")
    _engine.sim_inject_fault(url, "delay", delay_ms=0.0, count=0)
    try:
        ctrl = _engine.ArcusController(url)  # refused (PortBusyError) if the scan still held the link
    except Exception as err:
        problems.append(f"port not free: {err}")
    else:
        try:
            t = _engine.now_ns()
            time.sleep(0.2)
            truth = _engine.sim_truth(url, "X", np.array([t, t + 200_000_000], dtype=np.int64))
            # After a lost link the STOP may not have reached the controller: the axis ends the move
            # it was given (what the error says), which is not a failed check.
            if not link_lost and abs(truth[1] - truth[0]) > 0.5:
                problems.append(f"axis X still moving after the end ({truth[0]:.0f} → {truth[1]:.0f} steps)")
        finally:
            ctrl.close()
    return RunReport(fault, results.status.value, acquired, saved, tuple(problems))


def soak(minutes: float, seed: Optional[int] = None, out: Optional[Path] = None,
         faults: Sequence[str] = tuple(FAULTS)) -> list[RunReport]:
    rng = random.Random(seed)
    folder = out or Path(tempfile.mkdtemp(prefix="aefi-soak-"))
    reports: list[RunReport] = []
    deadline = time.monotonic() + 60.0 * minutes
    while time.monotonic() < deadline or not reports:
        fault = rng.choice(list(faults))
        report = run_once(len(reports), fault, rng, folder)
        reports.append(report)
        print(f"run {len(reports)}: {fault:10s} → {report.status:9s} {report.saved}/{report.acquired} samples saved"
              + ("" if report.ok else "  FAILED: " + "; ".join(report.problems)), flush=True)
        (folder / f"run{len(reports) - 1}.h5").unlink(missing_ok=True)
    return reports


def main(argv: Optional[Sequence[str]] = None) -> int:
    import logging

    p = argparse.ArgumentParser(prog="aefi-soak", description=__doc__.split("\n\n")[0])
    p.add_argument("minutes", type=float, help="how long to keep flying (at least one run)")
    p.add_argument("--seed", type=int, default=None, help="seed of the fault draw")
    p.add_argument("--out", type=Path, default=None, help="folder for the runs' files (default: a temp folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    reports = soak(args.minutes, args.seed, args.out)
    counts = Counter((r.fault, r.status) for r in reports)
    failed = [r for r in reports if not r.ok]
    print(f"{len(reports)} runs, {len(failed)} failed checks; "
          + ", ".join(f"{fault}→{status}: {n}" for (fault, status), n in sorted(counts.items())))
    print(f"samples: {sum(r.saved for r in reports)} saved of {sum(r.acquired for r in reports)} acquired")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
