"""The one table of survival time units: days in each unit (a Julian year of 365.25 days, as R's tutorials use)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DAYS_PER_UNIT", "TIME_UNITS", "TimeUnit", "per_year"]

TimeUnit = Literal["days", "weeks", "months", "years"]
TIME_UNITS: tuple[str, ...] = get_args(TimeUnit)

DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


def per_year(unit: str) -> float:
    """Length of one year in ``unit`` (365.25 days, 52.18 weeks, 12 months, 1 year)."""
    return 365.25 / DAYS_PER_UNIT[unit]
