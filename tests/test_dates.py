"""Dates in questions resolved as of a day, and answers as of a date (real models and Chroma)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import rag
from rag.config import Settings
from rag.dates import When, age_note, asks_for_latest, question_time, resolve_dates

FRIDAY = dt.date(2023, 9, 8)


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("Who won today?", "2023-09-08", "2023-09-08"),
        ("What happened yesterday in Paris?", "2023-09-07", "2023-09-07"),
        ("Which team won this week?", "2023-09-02", "2023-09-08"),
        ("Who resigned last week?", "2023-08-26", "2023-09-01"),
        ("What did the court rule on Wednesday?", "2023-09-06", "2023-09-06"),
        ("Who spoke on Friday?", "2023-09-08", "2023-09-08"),
        ("Who scored twice in Tuesday’s 6-1 win?", "2023-09-05", "2023-09-05"),
        ("What rose last month?", "2023-08-01", "2023-08-31"),
        ("What was announced in October?", "2022-10-01", "2022-10-31"),
        ("What was announced in August?", "2023-08-01", "2023-08-31"),
        ("How many storms this year?", "2023-01-01", "2023-09-08"),
        ("What has fallen since Monday?", "2023-09-04", "2023-09-08"),
        ("What happened over the past three days?", "2023-09-05", "2023-09-08"),
    ],
)
def test_relative_dates_resolve_against_as_of(question: str, since: str, until: str) -> None:
    found = resolve_dates(question, FRIDAY)
    assert found is not None, question
    assert (found.since.isoformat(), found.until.isoformat()) == (since, until)


def test_questions_without_time_words_have_no_range() -> None:
    for q in (
        "Who is the prime minister of Canada?",
        "What did The Week report?",
        "May the court rule on it?",
        "Which team won on Monday Night Football?",
        "What did Business Today report on the merger?",
        "Who recently resigned?",
    ):
        assert resolve_dates(q, FRIDAY) is None, q
    assert asks_for_latest("What is the latest on the strike?")
    assert not asks_for_latest("Who won the final?")
    assert not asks_for_latest("Which company was recently fined?")


def test_as_of_caps_filters_and_boost() -> None:
    when = question_time("Who won this week?", "2023-09-08")
    assert when.filters({"until": "2023-12-01"}) == {"until": FRIDAY}
    assert when.boost(None) == {"since": dt.date(2023, 9, 2), "until": FRIDAY}
    assert "as of 2023-09-08" in when.describe() and "this week" in when.describe()
    assert When(as_of=FRIDAY, recency=0.5).prior(FRIDAY) == 1.5
    assert When(as_of=FRIDAY, recency=0.5).prior(FRIDAY - dt.timedelta(days=7)) == 1.25
    with pytest.raises(rag.QuestionError, match="not a date"):
        question_time("x", "next Tuesday-ish")


def test_age_note() -> None:
    when = question_time("Who won this week?", FRIDAY)
    assert "before the days the question names (“this week”" in age_note(
        [dt.date(2023, 8, 1)], when, None
    )
    undated = question_time("Who won this week?")  # no as_of: the words may mean other days
    assert age_note([dt.date(2023, 8, 1)], undated, None) == ""
    assert age_note([dt.date(2023, 9, 5)], when, None) == ""
    plain = question_time("Who won?", FRIDAY)
    assert age_note([dt.date(2023, 8, 1)], plain, None) == ""
    assert "38 days before 2023-09-08" in age_note([dt.date(2023, 8, 1)], plain, 30)


MARATHON = [
    ("2023-08-01", "Lena Park", "a course record of 2 hours 21 minutes"),
    ("2023-08-29", "Tomas Ruiz", "a sprint finish in the rain"),
    ("2023-09-06", "Amara Osei", "a lead she held from the tenth kilometre"),
]


@pytest.fixture(scope="module")
def marathon(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A recurring story: the Riverton city marathon, won by someone else each time."""
    tmp = tmp_path_factory.mktemp("marathon")
    records = [
        {
            "title": f"{winner} wins the Riverton city marathon",
            "source": "Riverton Herald",
            "published_at": day,
            "url": f"https://herald.example/marathon-{day}",
            "body": (
                f"{winner} won the Riverton city marathon on Sunday with {how}. "
                f"Thousands of runners crossed the river bridges on the course, and the "
                f"organisers said the race raised money for the children's hospital. "
                f"{winner} thanked the crowds along the harbour road."
            ),
        }
        for day, winner, how in MARATHON
    ]
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "marathon.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    s = Settings.from_env(index_dir=tmp / "index", corpus_dir=corpus)
    assert len(rag.ingest(settings=s).added) == 3
    return s


def test_answers_as_of_a_date(marathon: Settings) -> None:
    q = "Who won the Riverton city marathon this week?"
    now = rag.answer(q, as_of="2023-09-08", settings=marathon)
    assert "Amara Osei" in now.text and not now.refused
    assert "this week" in now.trace.dates and "as of 2023-09-08" in now.trace.dates

    earlier = rag.answer(q, as_of=dt.date(2023, 8, 31), settings=marathon)
    assert "Tomas Ruiz" in earlier.text
    assert all(p.published and p.published <= dt.date(2023, 8, 31) for p in earlier.passages)
    assert "Amara Osei" not in earlier.text

    first = rag.answer(q, as_of="2023-08-02", settings=marathon)
    assert "Lena Park" in first.text and len(first.passages) == 1

    none_yet = rag.answer(q, as_of="2023-07-01", settings=marathon)
    assert none_yet.refused


def test_old_evidence_says_so(marathon: Settings) -> None:
    late = rag.answer(
        "Who won the Riverton city marathon this week?", as_of="2023-10-20", settings=marathon
    )
    assert "Note: the newest article this answer rests on is from" in late.text


def test_latest_prefers_recent_articles(marathon: Settings) -> None:
    a = rag.answer("Who won the latest Riverton city marathon?", settings=marathon)
    assert a.passages[0].published == dt.date(2023, 9, 6)
    assert "latest first" in a.trace.dates


def test_stream_and_cli_take_as_of(marathon: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    pieces = list(
        rag.stream("Who won the marathon this week?", as_of="2023-08-31", settings=marathon)
    )
    assert isinstance(pieces[-1], rag.Answer) and "Tomas Ruiz" in pieces[-1].text
    code = main(
        [
            "--index",
            str(marathon.index_dir),
            "ask",
            "Who won the marathon this week?",
            "--as-of",
            "2023-08-02",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert "Lena Park" in out["text"] and "2023-08-02" in out["trace"]["dates"]


def test_stats_show_dates_per_month(marathon: Settings) -> None:
    stats = rag.stats(settings=marathon)
    assert stats["first_published"] == "2023-08-01" and stats["last_published"] == "2023-09-06"
    assert stats["per_month"] == {"2023-08": 2, "2023-09": 1}


def test_feed_functions_are_public() -> None:
    # the public names for feeds stay exported beside the rest
    for name in ("list_feeds", "add_feed", "remove_feed", "sync_feeds"):
        assert name in rag.__all__ and callable(getattr(rag, name))
