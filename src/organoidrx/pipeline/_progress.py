"""Run bookkeeping: the warnings a run collects for its report and the time each phase takes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

__all__ = ["Progress", "Timer", "WarningCollector", "collect_warnings", "logged_progress"]


class WarningCollector(logging.Handler):
    """Every distinct warning logged under ``organoidrx`` during a run, prefixed with the drug in progress."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.context: str | None = None  # the drug being processed, prefixed to messages that do not name it

    def emit(self, record: logging.LogRecord) -> None:
        message = " ".join(record.getMessage().split())
        if self.context is not None and self.context not in message:
            message = f"{self.context}: {message}"
        if message not in self.messages:
            self.messages.append(message)


@contextmanager
def collect_warnings() -> Iterator[WarningCollector]:
    """A :class:`WarningCollector` attached to the ``organoidrx`` logger for the duration of the block."""
    collector = WarningCollector()
    root = logging.getLogger("organoidrx")
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)


#: ``progress(phase, done, total)``: how a run reports its progress (a terminal's bars, a log, a GUI ...)
Progress = Callable[[str, int, int], None]


class Timer:
    """Seconds per named phase of a run (summed when a phase recurs), each also logged; progress of each phase.

    Parameters
    ----------
    progress : callable, optional
        ``progress(phase, done, total)``, called when a shown phase starts and ends and by :meth:`report`. Without
        it, long loops log ``phase: done/total`` at every tenth (:meth:`callback`).
    """

    def __init__(self, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def phase(self, name: str, *, total: int = 1, show: bool = True) -> Iterator[None]:
        """Time the block as ``name``; with ``show``, report it as a phase of ``total`` steps (done at the end)."""
        if show:
            self.report(name, 0, total)
        tic = time.perf_counter()
        yield
        seconds = time.perf_counter() - tic
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        if show:
            self.report(name, total, total)
        logger.info("%s: %.2f s", name, seconds)

    def report(self, phase: str, done: int, total: int) -> None:
        """Pass ``done`` of ``total`` steps of ``phase`` to the progress callback, if any."""
        if self.progress is not None:
            self.progress(phase, done, total)

    def callback(self, phase: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` for a loop inside a phase: to the progress callback, else logged."""
        if self.progress is None:
            return logged_progress(phase)
        return lambda done, total: self.report(phase, done, total)


def logged_progress(label: str, *, steps: int = 10) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that logs ``label: done/total`` at every tenth of the work."""
    last = [-1]

    def report(done: int, total: int) -> None:
        step = done * steps // max(total, 1)
        if step != last[0]:
            last[0] = step
            logger.info("%s: %d/%d", label, done, total)

    return report
