"""Stage units: the Arcus counts pulses (steps); people think in millimetres."""
from dataclasses import dataclass

#: The bench's TB6600 drivers at 1/16 microstep on a 69.76 mm/turn drive: 21.8 µm per pulse
#: (older code used 43.6 µm, the 1/8 setting; the value is configurable for that reason).
DEFAULT_STEP_UM = 21.8


@dataclass(frozen=True)
class StepScale:
    """Conversion between stage millimetres and Arcus pulses for one axis."""

    step_um: float = DEFAULT_STEP_UM

    def __post_init__(self) -> None:
        if not self.step_um > 0:
            raise ValueError(f"step_um must be > 0 µm per step, got {self.step_um}")

    @property
    def step_mm(self) -> float:
        return self.step_um * 1e-3

    def to_steps(self, position_mm: float) -> int:
        """Nearest whole pulse (the legacy code truncated with int(), a bias of up to one step)."""
        return round(position_mm / self.step_mm)

    def to_mm(self, steps: float) -> float:
        return steps * self.step_mm

    def speed_to_pps(self, speed_mm_s: float) -> float:
        return speed_mm_s / self.step_mm

    def pps_to_speed(self, speed_pps: float) -> float:
        return speed_pps * self.step_mm
