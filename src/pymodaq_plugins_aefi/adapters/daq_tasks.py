"""The hardware-timed AI task of one flyscan line, and its NI-DAQmx implementation.

`AiTask` is the task-shaped interface the DAQ detector drives, once per line: configured channels,
± range, sample-clock rate, a finite number of samples, a start (software, or a digital edge on a
PFI terminal: the Arcus DO1 driven by the fast axis' SYN compare), a buffer read in blocks, an
overrun error. `NidaqmxTask` implements it with `nidaqmx`, configured through
`pymodaq_plugins_daqmx`'s channel and clock objects (`AIChannel`, `ClockSettings`,
`NIDAQmx.update_task`); the simulated DAQ (`daq_sim.SimulatedDaq`) implements it on the simulated
bench.

Without the NI-DAQmx runtime (the usual case on a development machine) both packages import, but
no task can be made: `check_daqmx_runtime` raises `DaqRuntimeMissing` with one sentence, before any
motion.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Optional, Protocol

import numpy as np

from ..domain.config import expand_ai_channels
from ..domain.errors import ScanExecutionError

RUNTIME_MISSING = "NI-DAQmx runtime not found: install it from NI; the simulated DAQ is daqmx_sim"
#: DAQmx error "samples no longer available" (the buffer was overwritten before it was read).
DAQMX_OVERRUN_CODE = -200279


class DaqError(ScanExecutionError):
    """The DAQ refused or failed a task (the message names the line and the cause)."""


class DaqRuntimeMissing(DaqError):
    """The NI-DAQmx driver is not installed: nothing can be configured."""


class DaqOverrunError(DaqError):
    """Samples were overwritten in the task's buffer before they were read."""


@dataclass(frozen=True)
class AiTaskSpec:
    """One line's AI task: what the plan asks of the DAQ."""

    channels: tuple[str, ...]  # physical channels, e.g. ("Dev1/ai0", ..., "Dev1/ai5")
    range_v: float  # ± input range
    rate_hz: float  # sample clock
    n_samples: int  # finite acquisition
    start: Literal["syn", "software"]
    trigger_source: str  # terminal of the digital start edge (syn)
    buffer_samples: int = 0  # 0: the task's own (n_samples for a finite acquisition)

    @classmethod
    def of(cls, channels: str, range_v: float, rate_hz: float, n_samples: int, start: str,
           trigger_source: str) -> AiTaskSpec:
        return cls(tuple(expand_ai_channels(channels)), float(range_v), float(rate_hz), int(n_samples),
                   "syn" if start == "syn" else "software", trigger_source)

    @property
    def period_ns(self) -> float:
        return 1e9 / self.rate_hz


class AiTask(Protocol):
    """One armed AI task (one line)."""

    def start(self) -> None:
        """Software start: the sample clock starts now. Start trigger: the task is armed and its
        clock starts on the trigger's edge."""

    def read(self, max_samples: int, timeout_s: float) -> np.ndarray:
        """The samples acquired since the last read, at most `max_samples`, as (n, channels) volts;
        waits up to `timeout_s` for at least one (an empty array when none came). Raises
        DaqOverrunError when the buffer was overwritten."""

    def start_instant_ns(self) -> Optional[int]:
        """The instant of the start edge on the engine clock when the device knows it, else None."""

    @property
    def samples_read(self) -> int: ...

    def close(self) -> None: ...


class AiTaskFactory(Protocol):
    """Makes the task of each line (the real DAQ or its simulator)."""

    name: str

    def check(self) -> None:
        """Raises DaqError when no task can be made (no runtime, unknown device), before any motion."""

    def make(self, spec: AiTaskSpec, line: int, syn_compare_steps: Optional[float] = None,
             direction: int = 0) -> AiTask:
        """The task of `line`. `syn_compare_steps`/`direction`: where the line's SYN compare fires and
        which way the line flies (the engine arms SYN on hardware; a simulator may need them)."""


def check_daqmx_runtime() -> Any:
    """The `nidaqmx` module when the NI-DAQmx runtime answers; DaqRuntimeMissing otherwise."""
    try:
        import nidaqmx
        import nidaqmx.system
        from nidaqmx.errors import DaqNotFoundError, DaqNotSupportedError
    except ImportError as err:
        raise DaqRuntimeMissing(f"{RUNTIME_MISSING} (and the nidaqmx package: pip install "
                                f"'pymodaq_plugins_aefi[daqmx]')") from err
    try:
        _ = nidaqmx.system.System.local().driver_version  # the first call that loads the runtime
    except (DaqNotFoundError, DaqNotSupportedError, OSError) as err:
        raise DaqRuntimeMissing(RUNTIME_MISSING) from err
    return nidaqmx


def import_daqmxni() -> Any:
    """pymodaq_plugins_daqmx's nidaqmx wrapper module (channel, clock and task objects).

    Written for PyMoDAQ 4, it calls APIs PyMoDAQ 5 deprecates (its Config constructor, the logger
    imports): those DeprecationWarnings are not this package's to fix, and are not raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pymodaq_plugins_daqmx.hardware.national_instruments import daqmxni
    return daqmxni


def daqmx_devices() -> list[str]:
    """Names of the NI devices the runtime sees (empty without the runtime or the package)."""
    try:
        check_daqmx_runtime()
        daqmxni = import_daqmxni()
    except (DaqError, ImportError):
        return []
    devices = daqmxni.NIDAQmx.get_NIDAQ_devices()
    return list(getattr(devices, "device_names", []))


class NidaqmxTask:
    """An AI task on an NI device: channels and clock through pymodaq_plugins_daqmx, the digital
    start edge and the block reads through nidaqmx."""

    def __init__(self, spec: AiTaskSpec, line: int) -> None:
        nidaqmx = check_daqmx_runtime()
        from nidaqmx.constants import Edge, TerminalConfiguration
        from nidaqmx.stream_readers import AnalogMultiChannelReader

        daqmxni = import_daqmxni()

        self.spec, self.line = spec, line
        self._errors = nidaqmx.errors
        wrapper = daqmxni.NIDAQmx()
        channels = [daqmxni.AIChannel(name=name, source=daqmxni.ChannelType.ANALOG_INPUT,
                                      value_min=-spec.range_v, value_max=spec.range_v,
                                      termination=TerminalConfiguration.DEFAULT) for name in spec.channels]
        # source "": the device's own sample clock
        clock = daqmxni.ClockSettings(source="", frequency=spec.rate_hz, Nsamples=spec.n_samples, repetition=False)
        # update_task logs its DAQmx errors instead of raising them: the task is checked below.
        wrapper.update_task(channels=channels, clock_settings=clock,
                            trigger_settings=daqmxni.TriggerSettings(enable=False))
        task = wrapper.task
        if task is None or len(task.ai_channels.channel_names) != len(spec.channels):
            wrapper.close()
            raise DaqError(f"line {line}: NI-DAQmx refused the channels {', '.join(spec.channels)} "
                           f"at ±{spec.range_v:g} V")
        if int(task.timing.samp_quant_samp_per_chan) != spec.n_samples:
            wrapper.close()
            raise DaqError(f"line {line}: NI-DAQmx refused a finite task of {spec.n_samples} samples at "
                           f"{spec.rate_hz:g} Hz on {', '.join(spec.channels)}")
        try:
            if spec.start == "syn":
                # pymodaq_plugins_daqmx disables PFI start triggers; nidaqmx sets the digital edge.
                task.triggers.start_trigger.cfg_dig_edge_start_trig(spec.trigger_source, Edge.RISING)
            if spec.buffer_samples:
                task.in_stream.input_buf_size = spec.buffer_samples
        except self._errors.DaqError as err:
            wrapper.close()
            raise DaqError(f"line {line}: {err}") from err
        self._wrapper, self._task = wrapper, task
        self._reader = AnalogMultiChannelReader(task.in_stream)
        self._read = 0

    def start(self) -> None:
        self._wrapper.start()

    def read(self, max_samples: int, timeout_s: float) -> np.ndarray:
        n_ch = len(self.spec.channels)
        want = min(max_samples, self.spec.n_samples - self._read)
        if want <= 0:
            return np.empty((0, n_ch))
        try:
            available = int(self._task.in_stream.avail_samp_per_chan)
            n = min(want, available) if available > 0 else 1
            buf = np.empty((n_ch, n), dtype=np.float64)
            got = self._reader.read_many_sample(buf, number_of_samples_per_channel=n, timeout=timeout_s)
        except self._errors.DaqReadError as err:
            if err.error_code == DAQMX_OVERRUN_CODE:
                raise DaqOverrunError(f"line {self.line}: samples overwritten before they were read "
                                      f"({self._read} read at {self.spec.rate_hz:g} Hz)") from err
            if "timeout" in str(err).lower() or err.error_code == -200284:  # samples not yet acquired
                return np.empty((0, n_ch))
            raise DaqError(f"line {self.line}: {err}") from err
        except self._errors.DaqError as err:
            if err.error_code == -200284:
                return np.empty((0, n_ch))
            raise DaqError(f"line {self.line}: {err}") from err
        self._read += int(got)
        return buf[:, :got].T.copy()

    def start_instant_ns(self) -> Optional[int]:
        # The device's own start timestamp is on its clock, not the host's: the detector places
        # the start from the arrival of the first samples instead.
        return None

    @property
    def samples_read(self) -> int:
        return self._read

    def close(self) -> None:
        self._wrapper.close()


class NidaqmxFactory:
    """Tasks on NI hardware."""

    name = "daqmx"

    def __init__(self, channels: str = "") -> None:
        self.channels = channels

    def check(self) -> None:
        check_daqmx_runtime()
        devices = daqmx_devices()
        wanted = {name.split("/")[0] for name in expand_ai_channels(self.channels)} if self.channels else set()
        missing = sorted(wanted - set(devices))
        if missing:
            raise DaqError(f"no NI device {', '.join(missing)}: the runtime sees {', '.join(devices) or 'none'}")

    def make(self, spec: AiTaskSpec, line: int, syn_compare_steps: Optional[float] = None,
             direction: int = 0) -> AiTask:
        # the SYN compare is armed on the Arcus by the engine: the DAQ only waits for the edge
        return NidaqmxTask(spec, line)
