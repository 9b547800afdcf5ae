"""Who owns an instrument link right now, within one process (docs/decisions/0006-port-lease.md).

The Arcus link (and the board link) can be used by one owner at a time. The move plugin *holds*
the link while it is idle; a flyscan *leases* it: the arbiter asks the holder to release it (the
holder stops polling and hands the open controller over), lends it to the scan, and gives it back
on every exit path (done, abort, error, exception), after which the holder re-reads its state.
Across processes the exclusive open of the port does the same job (a second opener gets
PortBusyError from the Rust transport).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Optional, Protocol, runtime_checkable
from urllib.parse import urlsplit


class LeaseBusyError(RuntimeError):
    """The link is already lent to another borrower."""


@runtime_checkable
class LinkHolder(Protocol):
    """An owner that keeps a link open while idle and can lend it."""

    holder_name: str

    def release_link(self) -> Any:
        """Stop using the link (polling included) and return the open controller."""

    def restore_link(self, link: Any) -> None:
        """Take the controller back after a lease and re-read the instrument state."""


def link_key(url: str) -> str:
    """Identity of an instrument behind a URL: the query (baud, timing options) is not part of it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class PortArbiter:
    """Lends one link at a time; one arbiter per instrument link in the process."""

    _registry: ClassVar[dict[str, PortArbiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str, opener: Callable[[str], Any]) -> None:
        self.url = url
        self._opener = opener
        self._lock = threading.Lock()
        self._holder: Optional[LinkHolder] = None
        self._borrower: Optional[str] = None

    @classmethod
    def for_url(cls, url: str, opener: Callable[[str], Any], instrument: Optional[str] = None) -> PortArbiter:
        """The process-wide arbiter of the instrument at `url` (created on first use).

        `instrument` tells apart two instruments behind one URL: a `sim://NAME` bench serves both
        the Arcus (no instrument name, the default) and the acquisition board (`"board"`).
        """
        key = link_key(url) if instrument is None else f"{instrument}@{link_key(url)}"
        with cls._registry_lock:
            arbiter = cls._registry.get(key)
            if arbiter is None:
                arbiter = cls._registry[key] = cls(url, opener)
            return arbiter

    @property
    def holder(self) -> Optional[LinkHolder]:
        return self._holder

    @property
    def borrower(self) -> Optional[str]:
        return self._borrower

    def attach(self, holder: LinkHolder) -> None:
        """Register the idle owner of the link (the move plugin)."""
        with self._lock:
            if self._holder is not None and self._holder is not holder:
                raise LeaseBusyError(
                    f"{self.url} is already held by {self._holder.holder_name}; "
                    f"{holder.holder_name} must share that controller instead of opening another"
                )
            self._holder = holder

    def detach(self, holder: LinkHolder) -> None:
        with self._lock:
            if self._holder is holder:
                self._holder = None

    @contextmanager
    def lease(self, borrower: str) -> Iterator[Any]:
        """Lend the open link to `borrower` for the duration of the `with` block.

        With no holder attached the arbiter opens the link itself and closes it afterwards.
        """
        with self._lock:
            if self._borrower is not None:
                raise LeaseBusyError(f"{self.url} is lent to {self._borrower}; {borrower} must wait")
            self._borrower = borrower
            holder = self._holder
        link = None
        try:
            link = holder.release_link() if holder is not None else self._opener(self.url)
            yield link
        finally:
            try:
                if link is not None:
                    if holder is not None:
                        holder.restore_link(link)
                    else:
                        link.close()
            finally:
                with self._lock:
                    self._borrower = None
