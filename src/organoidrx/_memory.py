"""The memory budget of a job: one option (``--memory``, ``[settings] memory``), its parser and its default.

Every command that sizes its work by memory reads the budget from here, so the flag, the config key and the
Python keyword ``memory=`` accept the same values (``"1.5G"``, ``"800M"``, a number of bytes) with the same
default: half of the memory available when the job starts.
"""

from __future__ import annotations

import os
import re

from organoidrx._registry import Option
from organoidrx._utils import InputError

__all__ = [
    "DEFAULT_MEMORY_SHARE",
    "MEMORY",
    "available_memory",
    "format_bytes",
    "memory_budget",
    "parse_size",
]

#: share of the available memory a job takes when no budget is given (the rest: other jobs, the page cache)
DEFAULT_MEMORY_SHARE = 0.5

_UNITS = {
    "": 1,
    "B": 1,
    "K": 2**10,
    "KB": 2**10,
    "M": 2**20,
    "MB": 2**20,
    "G": 2**30,
    "GB": 2**30,
    "T": 2**40,
}
_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TB": 2**40, "TIB": 2**40})

MEMORY = Option(
    "memory",
    None,
    str,
    "memory budget of the data a job holds at once, e.g. 1.5G or 800M (default: half of the memory available); "
    "chunks of samples are sized to fit it and a job that cannot fit is refused before any work",
    nullable=True,
)


def parse_size(text: str | int, *, name: str) -> int:
    """Bytes of a size written as ``4G``, ``500MB``, ``1.5GiB`` or a plain number of bytes (powers of 1024).

    Examples
    --------
    >>> parse_size("1.5G", name="x")
    1610612736
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise InputError(f"{name} {text!r} is negative; give a size such as 1.5G.")
        return int(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise InputError(
            f"{name} {text!r} is not a size; write a number of bytes or a number with K, M, G or T (e.g. 4G)."
        )
    return int(float(match.group(1)) * _UNITS[unit])


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable`` of /proc/meminfo, else physical pages)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**63 - 1


def memory_budget(memory: str | int | None = None, *, name: str = "--memory") -> int:
    """The budget in bytes: ``memory`` parsed (:func:`parse_size`), else half of :func:`available_memory`.

    Raises
    ------
    InputError
        For a value that is not a size, or a budget of zero bytes.

    Examples
    --------
    >>> memory_budget("800M")
    838860800
    """
    if memory is None:
        return max(1, int(available_memory() * DEFAULT_MEMORY_SHARE))
    budget = parse_size(memory, name=name)
    if budget <= 0:
        raise InputError(f"{name} {memory!r} is zero; give a budget such as 1.5G.")
    return budget


def format_bytes(n: float) -> str:
    """A byte count for messages: ``'1.50 GiB'``, ``'820.0 MiB'``, ``'12.0 KiB'``.

    Examples
    --------
    >>> format_bytes(1.5 * 2**30), format_bytes(3 * 2**20)
    ('1.50 GiB', '3.0 MiB')
    """
    if abs(n) >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if abs(n) >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB"
