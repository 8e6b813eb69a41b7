"""Dates as news articles write them: ISO, day-first numeric, month names, PDF dates."""

from __future__ import annotations

import datetime as dt
import re

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:mon|tue(?:s)?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+"
_DATE = (
    r"\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
)
# A byline ends in a date, optionally after a weekday: "Reuters | Saturday, 6 January 2024".
BYLINE_DATE = re.compile(rf"\b(?:{_WEEKDAY})?(?P<date>{_DATE})\s*$", re.IGNORECASE)
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DAY_FIRST = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)")
# 20240106, 20240106T0830, and PDF dates: D:20240106083000+00'00'
_COMPACT = re.compile(r"(?:D:)?(\d{4})(\d{2})(\d{2})(?:$|T|\d{4,6}\b)")


def parse_date(value: object) -> dt.date | None:
    """A date from a date, datetime or string; ``None`` when empty or unparseable (never raises).

    Numeric dates are day-first unless they start with the year:
    ``parse_date("06-01-2024") == parse_date("2024-01-06") == date(2024, 1, 6)``.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if m := _YEAR_FIRST.match(text) or _COMPACT.match(text):
        year, month, day = m[1], m[2], m[3]
    elif m := _DAY_FIRST.match(text):
        year, month, day = m[3], m[2], m[1]
    if m:
        try:
            return dt.date(int(year), int(month), int(day))
        except ValueError:
            return None
    from dateutil import parser

    # dateutil fills missing parts from its default; parsing with two defaults that differ in
    # every part reveals them, so "January 2024" or "Monday" is rejected rather than guessed.
    # ignoretz: only the date is kept, and unknown zone names ("EST") would only warn.
    try:
        first, second = (
            parser.parse(text, dayfirst=True, ignoretz=True, default=default).date()
            for default in (dt.datetime(2000, 1, 1), dt.datetime(2001, 2, 2))
        )
    except (ValueError, OverflowError, TypeError):
        return None
    return first if first == second else None


_IN_TEXT = re.compile(
    rf"\b(?:{_DATE}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?!\s*,?\s*\d{{4}}))\b", re.IGNORECASE
)


def dates_in(text: str, year: int | None = None) -> list[dt.date]:
    """Dates written in a question ("on 2023-11-24", "November 6, 2023", "October 1st");
    a date without a year takes ``year`` (else it is left out)."""
    found: list[dt.date] = []
    for m in _IN_TEXT.finditer(text):
        raw = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", m.group(0))
        day = parse_date(raw)
        if day is None and year is not None:
            day = parse_date(f"{raw} {year}")
        if day is not None and day not in found:
            found.append(day)
    return found
