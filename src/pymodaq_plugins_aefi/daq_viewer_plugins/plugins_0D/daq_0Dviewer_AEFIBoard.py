"""PyMoDAQ 0D viewer of the AEFI acquisition board: one grab = one measurement averaged on the MCU.

Six channels in volts (X/Y/Z × in-phase/quadrature), usable alone in the Dashboard and as the
detector of ordinary step DAQ_Scans. A thin shell over `adapters.aefi_board.AefiBoard`, which holds
the board link; a flyscan borrows that link through the same lease as the Arcus port, and while it
has it, grabs return NaN with a status message naming the borrower.
"""
from typing import Optional

import numpy as np
from pymodaq.control_modules.thread_commands import ThreadStatus
from pymodaq.control_modules.viewer_utility_classes import DAQ_Viewer_base, comon_parameters, main
from pymodaq.utils.data import DataFromPlugins, DataToExport
from pymodaq_utils.utils import ThreadCommand

from pymodaq_plugins_aefi import config
from pymodaq_plugins_aefi.adapters.aefi_board import (
    CHANNEL_NAMES,
    N_AVG_MAX,
    N_AVG_MIN,
    OSR_VALUES,
    AefiBoard,
    BoardBusyError,
    BoardSettings,
)
from pymodaq_plugins_aefi.adapters.links import OTHER_URL, SIMULATOR_LINKS, serial_link_urls


def board_link_choices() -> list[str]:
    return [*SIMULATOR_LINKS, *serial_link_urls(), OTHER_URL]


class DAQ_0DViewer_AEFIBoard(DAQ_Viewer_base):
    """The AEFI acquisition board (MCU + AD9106 DDS + ADS131A04 ADCs): six lock-in voltages."""

    # the systems the Rust extension is built for (wheels); PyMoDAQ refuses to start the plugin elsewhere
    supported_platforms = ("win32", "linux", "darwin")

    params = comon_parameters + [
        {"title": "Connection:", "name": "connection", "type": "list", "limits": board_link_choices(),
         "value": config("board", "url"),
         "tip": "Serial ports found on this computer and the built-in simulator; pick the last entry to type a URL"},
        {"title": "URL:", "name": "url", "type": "str", "value": config("board", "url"),
         "tip": "sim://NAME (the board of a simulated bench), serial:///dev/ttyACM0 (1.5 Mbaud) or a PTY"},
        {"title": "MCU averaging (n):", "name": "n_avg", "type": "int", "value": config("board", "n_avg"),
         "min": N_AVG_MIN, "max": N_AVG_MAX, "tip": "Conversions averaged on the board per measurement (m<n>*)"},
        {"title": "Excitation:", "name": "excitation", "type": "group", "children": [
            {"title": "Frequency (Hz):", "name": "dds_frequency_hz", "type": "float", "value": 1000.0,
             "min": 1.0, "max": 8e6},
            {"title": "Source amplitude (DDS1/2):", "name": "source_gain", "type": "int", "value": 10_000,
             "min": 0, "max": 16_376},
            {"title": "Reference amplitude (DDS3/4):", "name": "reference_gain", "type": "int", "value": 10_000,
             "min": 0, "max": 16_376},
            {"title": "Reference phase (deg):", "name": "reference_phase_deg", "type": "float", "value": 90.0},
        ]},
        {"title": "ADC:", "name": "adc", "type": "group", "children": [
            {"title": "Gain:", "name": "adc_gain", "type": "list", "limits": [1, 2, 4, 8, 16], "value": 1},
            {"title": "Oversampling ratio:", "name": "osr", "type": "list", "limits": list(OSR_VALUES), "value": 4096},
        ]},
        {"title": "Apply configuration:", "name": "apply_config", "type": "bool_push", "value": False,
         "tip": "Write the excitation and ADC settings to the board registers"},
    ]

    def ini_attributes(self) -> None:
        self.controller: Optional[AefiBoard] = None

    def ini_detector(self, controller: Optional[AefiBoard] = None) -> tuple[str, bool]:
        try:
            self.controller = controller if controller is not None else AefiBoard.open(self.settings["url"])
        except Exception as error:  # shown to the user as the init message
            return f"AEFI board: {error}", False
        return f"AEFI board on {self.controller.url}", True

    def close(self) -> None:
        if self.controller is not None:
            self.controller.close()
            self.controller = None

    def commit_settings(self, param) -> None:
        if param.name() == "connection" and param.value() != OTHER_URL:
            self.settings.child("url").setValue(param.value())
        elif param.name() == "apply_config" and self.controller is not None:
            try:
                writes = self.controller.configure(self.board_settings())
                self._status(f"configuration written ({writes} registers)")
            except Exception as error:  # out-of-range values and board refusals go to the status bar
                self._status(f"configuration refused: {error}")

    def board_settings(self) -> BoardSettings:
        source = self.settings["excitation", "source_gain"]
        reference = self.settings["excitation", "reference_gain"]
        phase = self.settings["excitation", "reference_phase_deg"]
        return BoardSettings(dds_frequency_hz=self.settings["excitation", "dds_frequency_hz"],
                             dds_gains=(source, source, reference, reference),
                             dds_phases_deg=(0.0, 180.0, phase, phase - 90.0),
                             adc_gains=(self.settings["adc", "adc_gain"],) * 4, osr=self.settings["adc", "osr"])

    def grab_data(self, Naverage: int = 1, **kwargs) -> None:
        try:
            # PyMoDAQ's Naverage repeats whole measurements; n_avg averages on the MCU inside each
            volts = np.mean([self.controller.measure(self.settings["n_avg"]) for _ in range(max(1, int(Naverage)))],
                            axis=0)
        except (BoardBusyError, ValueError) as error:
            self._status(str(error))
            volts = np.full(len(CHANNEL_NAMES), np.nan)
        except Exception as error:  # link/board faults: report, keep the viewer alive
            self._status(f"measurement failed: {error}")
            volts = np.full(len(CHANNEL_NAMES), np.nan)
        self.dte_signal.emit(DataToExport("AEFIBoard", data=[
            DataFromPlugins(name="AEFI board", data=[np.array([v]) for v in volts], dim="Data0D",
                            labels=list(CHANNEL_NAMES), units="V")]))

    def stop(self) -> str:
        return ""

    def _status(self, message: str) -> None:
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, f"AEFI board: {message}"))


if __name__ == "__main__":
    main(__file__, init=False)
