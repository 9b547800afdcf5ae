"""The conditions of an `aefi-bench` run: the simulator process, the Python load, CPU accounting.

The simulator runs in its own process (`aefi-arcus-sim --pty`), so neither loop gets it for free
in its own process, and both see the same baud-accurate replies on a real pseudo-terminal.
"""
from __future__ import annotations

import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


class SimProcessError(RuntimeError):
    """The simulator process did not start or did not report its PTY."""


def sim_command() -> list[str]:
    """`aefi-arcus-sim` next to this interpreter (the venv's console script), else on PATH."""
    local = Path(sys.executable).parent / "aefi-arcus-sim"
    if local.exists():
        return [str(local)]
    found = shutil.which("aefi-arcus-sim")
    if found:
        return [found]
    return [sys.executable, "-m", "pymodaq_plugins_aefi.cli.arcus_sim"]


class SimProcess:
    """`aefi-arcus-sim --pty` in a child process; the truth log is complete once it has exited."""

    def __init__(self, baud: int, truth_log: Optional[Path] = None, extra_args: tuple[str, ...] = (),
                 start_timeout_s: float = 60.0) -> None:
        self.baud = baud
        self._own_dir = None if truth_log else tempfile.TemporaryDirectory(prefix="aefi-bench-")
        self.truth_log = truth_log or Path(self._own_dir.name) / "truth.json"  # type: ignore[union-attr]
        self._args = [*sim_command(), "--pty", "--baud", str(baud), "--truth-log", str(self.truth_log), *extra_args]
        self._start_timeout_s = start_timeout_s
        self._proc: Optional[subprocess.Popen[str]] = None
        self.pty_path = ""

    def __enter__(self) -> SimProcess:
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = _readline_with_timeout(self._proc, self._start_timeout_s)
        if not line.startswith("/"):
            self.stop()
            raise SimProcessError(f"{' '.join(self._args)} did not print a PTY path (got {line!r})")
        self.pty_path = line.strip()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait: the simulator writes the rest of its truth log on the way out."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cleanup(self) -> None:
        if self._own_dir is not None:
            self._own_dir.cleanup()


def _readline_with_timeout(proc: subprocess.Popen[str], timeout_s: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not result:
        proc.kill()
        raise SimProcessError(f"simulator printed nothing within {timeout_s} s")
    if not result[0] and proc.poll() is not None:
        err = proc.stderr.read() if proc.stderr else ""
        raise SimProcessError(f"simulator exited with {proc.returncode}: {err.strip()[-500:]}")
    return result[0]


class PythonLoad:
    """A CPU-bound Python thread in this process: what a busy PyMoDAQ GUI does to the GIL."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self.iterations = 0
        self.thread_cpu_s = 0.0

    def _spin(self) -> None:
        cpu0 = time.thread_time()
        n = 0
        while self._running:
            n += 1
        self.iterations = n
        self.thread_cpu_s = time.thread_time() - cpu0

    def __enter__(self) -> PythonLoad:
        if self.enabled:
            self._running = True
            self._thread = threading.Thread(target=self._spin, name="aefi-bench-python-load", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._running = False
            self._thread.join()


@dataclass
class CpuMeter:
    """Process CPU time (user + system, all threads) between start and stop."""

    start_s: float = 0.0
    used_s: float = field(default=0.0)

    @staticmethod
    def _now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuMeter:
        self.start_s = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.used_s = self._now() - self.start_s


def machine_info() -> dict[str, object]:
    """What the figures were measured on."""
    cpu_model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu_model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "switch_interval_s": sys.getswitchinterval(),
    }
