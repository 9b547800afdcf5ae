"""Errors of the flyscan domain (no framework types; adapters translate theirs into these)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .results import ScanResults


class FlyScanError(Exception):
    """Base class of the domain's errors."""


class InvalidScanConfig(FlyScanError, ValueError):
    """A scan parameter outside its allowed range; refused before any motion.

    `field` names the parameter, so a GUI can point at it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidTransition(FlyScanError):
    """A state change the FlyScan life cycle does not allow (e.g. correlating a line not acquired)."""


class ScanExecutionError(FlyScanError):
    """A scan that failed while running; carries what was acquired before the failure, if anything."""

    def __init__(self, message: str, partial_results: Optional[ScanResults] = None) -> None:
        super().__init__(message)
        self.partial_results = partial_results


class ScanBusyError(FlyScanError):
    """A scan is already running on this port, or the stage link is held by someone else."""
