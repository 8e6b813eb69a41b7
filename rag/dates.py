"""Dates as news articles write them: ISO, day-first numeric, month names, PDF dates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .text import AGE_NOTE, MONTHS, WEEKDAYS

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


# ------------------------------------------------------------------ dates in questions, as of a day
_WEEKDAYS = tuple(WEEKDAYS)
_MONTHS = tuple(MONTHS)
_WEEKDAY_RE = "|".join(_WEEKDAYS)
# "May" alone is too often the verb: a month name counts after "in", "during", "of", "since".
_MONTH_RE = "|".join(_MONTHS)
# "recently" is left out: quiz and multi-hop questions use it for any story of the season.
_RECENT = re.compile(r"\b(?:latest|most recent|newest)\b", re.I)


@dataclass(frozen=True)
class DateRange:
    """The days a question's words point to, resolved against ``as_of``.

    ``since``/``until`` are inclusive; ``phrase`` is the words that named the range.
    """

    since: dt.date
    until: dt.date
    phrase: str

    def describe(self) -> str:
        if self.since == self.until:
            return f"{self.phrase!r} = {self.since.isoformat()}"
        return f"{self.phrase!r} = {self.since.isoformat()}..{self.until.isoformat()}"


def _month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def _last_weekday(as_of: dt.date, weekday: int) -> dt.date:
    """The latest ``weekday`` (0 = Monday) on or before ``as_of``."""
    return as_of - dt.timedelta(days=(as_of.weekday() - weekday) % 7)


def resolve_dates(question: str, as_of: dt.date | None = None) -> DateRange | None:
    """The date range a question's relative words name, as of ``as_of`` (default: today).

    >>> resolve_dates("Who won this week?", dt.date(2023, 9, 8))
    DateRange(since=datetime.date(2023, 9, 2), until=datetime.date(2023, 9, 8), phrase='this week')

    "this week" is the seven days ending on ``as_of`` (news quizzes ask it on their day of
    publication); "last week" the seven before those; "on Wednesday" the latest Wednesday on or
    before ``as_of``; "in October" the latest October that is not after ``as_of``. The first
    expression found wins; ``None`` when the question names no time.
    """
    today = as_of or dt.date.today()
    # "Business Today", "USA Today": a capitalised Today inside a question names an outlet.
    text = re.sub(r"(?<=\w )Today\b", "Outlet", question).lower()
    day = dt.timedelta(days=1)
    rules: list[tuple[str, Any]] = [
        (r"\btoday\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b", lambda m: (today, today)),
        (r"\byesterday\b", lambda m: (today - day, today - day)),
        (r"\bthis week(?:end)?\b|\bpast week\b", lambda m: (today - 6 * day, today)),
        (
            r"\blast week(?:end)?\b|\bprevious week\b",
            lambda m: (today - 13 * day, today - 7 * day),
        ),
        (
            r"\b(?:past|last) (\d{1,2}|two|three|few) days\b",
            lambda m: (today - _count(m[1], 3) * day, today),
        ),
        (rf"\bsince ({_WEEKDAY_RE})\b", lambda m: (_weekday(m[1], today), today)),
        (
            rf"\blast ({_WEEKDAY_RE})\b",
            lambda m: ((d := _weekday(m[1], today - day)), d),
        ),
        (
            # "on Wednesday", "Tuesday's win"; not "Monday Night Football"
            rf"\b(?:on|this|earlier this) ({_WEEKDAY_RE})\b(?!\s+night\s+football)"
            rf"|\b({_WEEKDAY_RE})(?:'|’)s\b",
            lambda m: ((d := _weekday(m[1] or m[2], today)), d),
        ),
        (r"\bthis month\b|\bpast month\b", lambda m: (today.replace(day=1), today)),
        (r"\blast month\b|\bprevious month\b", lambda m: _month_span(*_month_before(today))),
        (
            rf"\b(?:in|during|since|of|early|late|mid-?)\s+({_MONTH_RE})\b(?!\s+\d)",
            lambda m: _named_month(m, today),
        ),
        (r"\bthis year\b|\bso far this year\b", lambda m: (dt.date(today.year, 1, 1), today)),
        (
            r"\blast year\b",
            lambda m: (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
        ),
    ]
    best: tuple[int, DateRange] | None = None
    for pattern, span in rules:
        m = re.search(pattern, text)
        if m is None:
            continue
        since, until = span(m)
        found = DateRange(max(min(since, today), dt.date.min), min(until, today), m[0].strip())
        if best is None or m.start() < best[0]:
            best = (m.start(), found)
    return best[1] if best else None


def _count(word: str, default: int) -> int:
    words = {"two": 2, "three": 3, "few": 3}
    return int(word) if word.isdigit() else words.get(word, default)


def _weekday(name: str, as_of: dt.date) -> dt.date:
    return _last_weekday(as_of, _WEEKDAYS.index(name.lower()))


def _month_before(day: dt.date) -> tuple[int, int]:
    return (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)


def _named_month(m: re.Match[str], today: dt.date) -> tuple[dt.date, dt.date]:
    month = _MONTHS.index(m[1].lower()) + 1
    year = today.year if month <= today.month else today.year - 1
    since, until = _month_span(year, month)
    if m[0].startswith("since"):
        until = today
    return since, until


def asks_for_latest(question: str) -> bool:
    """ "What is the latest ...", "most recent", "newest": recent articles should win."""
    return _RECENT.search(question) is not None


def as_date(value: object) -> dt.date | None:
    """``as_of`` as given by callers: a date, a datetime, ``YYYY-MM-DD``, or ``None``."""
    if value is None or value == "":
        return None
    day = parse_date(value)
    if day is None:
        from .errors import QuestionError

        raise QuestionError(f"as_of={value!r} is not a date; use YYYY-MM-DD")
    return day


@dataclass(frozen=True)
class When:
    """What a question's time means for retrieval: the as-of day, the range its words name,
    and whether it asks for the latest news."""

    as_of: dt.date | None = None
    range: DateRange | None = None
    latest: bool = False
    recency: float = 0.0  # weight of the prior favouring recent articles

    def filters(self, filters: Any) -> dict[str, Any] | None:
        """``filters`` with ``until`` no later than ``as_of`` (articles from the future of the
        question are never evidence)."""
        from collections.abc import Mapping

        if filters is not None and not isinstance(filters, Mapping):
            return filters  # type: ignore[no-any-return]  # the retriever says what is wrong
        if self.as_of is None:
            return dict(filters) if filters else None
        out = dict(filters or {})
        until = parse_date(out.get("until")) if out.get("until") else None
        out["until"] = min(until, self.as_of) if until else self.as_of
        return out

    def boost(self, filters: Any) -> dict[str, Any] | None:
        """The filters of the question's own range, searched besides the whole collection."""
        from collections.abc import Mapping

        if self.range is None or (filters is not None and not isinstance(filters, Mapping)):
            return None
        out = dict(self.filters(filters) or {})
        since = parse_date(out.get("since")) if out.get("since") else None
        until = parse_date(out.get("until")) if out.get("until") else None
        lo = max(self.range.since, since) if since else self.range.since
        hi = min(self.range.until, until) if until else self.range.until
        if lo > hi:
            return None
        out["since"], out["until"] = lo, hi
        return out

    def prior(self, published: dt.date | None, newest: dt.date | None = None) -> float:
        """A multiplier >= 1 for a passage's fused score: newer articles a little higher.

        Age counts from ``as_of``, else from ``newest`` (the newest candidate), so "latest"
        means the latest the collection has."""
        weight = 1.0 if self.latest else self.recency
        if weight <= 0 or published is None:
            return 1.0
        age = max(0, ((self.as_of or newest or dt.date.today()) - published).days)
        return 1.0 + weight * float(2.0 ** (-age / RECENCY_HALF_LIFE_DAYS))

    def describe(self) -> str:
        parts = []
        if self.as_of:
            parts.append(f"as of {self.as_of.isoformat()}")
        if self.range:
            parts.append(self.range.describe())
        if self.latest:
            parts.append("latest first")
        return "; ".join(parts)


# An article a week old keeps half of its prior: news quizzes ask about the last days.
RECENCY_HALF_LIFE_DAYS = 7.0


def question_time(question: str, as_of: object = None, recency: float = 0.0) -> When:
    """The :class:`When` of ``question`` asked on ``as_of`` (default: today, no limit)."""
    day = as_date(as_of)
    return When(
        as_of=day,
        range=resolve_dates(question, day),
        latest=asks_for_latest(question),
        recency=recency,
    )


def age_note(published: list[dt.date], when: When, max_age_days: float | None) -> str:
    """A sentence saying the evidence is old, or "" when it is recent enough."""
    if not published:
        return ""
    newest = max(published)
    reference = when.as_of or dt.date.today()
    # Without an as-of day, "in November" may well mean a November the articles cover.
    if when.as_of is not None and when.range is not None and newest < when.range.since:
        return (
            f"{AGE_NOTE} {newest.isoformat()}, "
            f"before the days the question names (“{when.range.phrase}”, "
            f"{when.range.since.isoformat()} on)."
        )
    if max_age_days is not None and (reference - newest).days > max_age_days:
        days = (reference - newest).days
        return f"{AGE_NOTE} {newest.isoformat()}, {days} days before {reference.isoformat()}."
    return ""


def dated(answer: Any, when: When, max_age_days: float | None) -> Any:
    """``answer`` with its dates in the trace, and a note when its evidence is old."""
    from dataclasses import replace

    trace = replace(answer.trace, dates=when.describe())
    if answer.refused:
        return replace(answer, trace=trace)
    note = age_note([c.published for c in answer.citations if c.published], when, max_age_days)
    text = f"{answer.text}\n\n{note}" if note else answer.text
    return replace(answer, text=text, trace=trace)
