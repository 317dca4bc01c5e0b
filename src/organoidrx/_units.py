"""The one table of survival time units: days in each unit (a Julian year of 365.25 days, as R's tutorials use)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DAYS_PER_UNIT", "TIME_UNITS", "TimeUnit", "horizon_words", "per_year"]

TimeUnit = Literal["days", "weeks", "months", "years"]
TIME_UNITS: tuple[str, ...] = get_args(TimeUnit)

DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


def per_year(unit: str) -> float:
    """Length of one year in ``unit`` (365.25 days, 52.18 weeks, 12 months, 1 year)."""
    return 365.25 / DAYS_PER_UNIT[unit]


def horizon_words(horizon: float, unit: str) -> str:
    """A survival horizon as a clinician says it: ``"5-year survival"``, ``"18-month survival"``, else the number.

    Examples
    --------
    >>> horizon_words(1826.25, "days"), horizon_words(18, "months"), horizon_words(100, "days")
    ('5-year survival', '18-month survival', 'survival at 100 days')
    """
    years = horizon / per_year(unit)
    if years >= 1 and abs(years - round(years)) < 1e-6:
        return f"{round(years)}-year survival"
    months = horizon * DAYS_PER_UNIT[unit] / DAYS_PER_UNIT["months"]
    if months >= 1 and abs(months - round(months)) < 1e-6:
        return f"{round(months)}-month survival"
    return f"survival at {horizon:g} {unit}"
