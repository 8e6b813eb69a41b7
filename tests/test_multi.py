"""End to end with the real models: questions over several articles (evals/multi), new
wordings of seed questions, traces, and follow-ups after a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag
from rag.config import Settings
from rag.text import MARKER, is_refusal

REPO = Path(__file__).resolve().parents[1]
MULTI = REPO / "evals" / "multi"


@pytest.fixture(scope="session")
def multi_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("multi")
    s = Settings.from_env(index_dir=tmp / "index", corpus_dir=MULTI)
    assert len(rag.ingest([MULTI], settings=s).added) == 4
    return s


def check_quotes(answer: rag.Answer, settings: Settings) -> None:
    assert {int(n) for n in MARKER.findall(answer.text)} == {c.n for c in answer.citations}
    for c in answer.citations:
        assert rag.get_article(c.doc_id, settings=settings).text[c.start : c.end] == c.quote


def test_both_outlets_are_quoted(multi_settings: Settings) -> None:
    a = rag.answer(
        "Did both the Valley Ledger and the Tidewater Times mention the Port of Santa Leona?",
        settings=multi_settings,
    )
    assert not a.refused
    check_quotes(a, multi_settings)
    assert {c.source for c in a.citations} >= {"Valley Ledger", "Tidewater Times"}
    assert all("Santa Leona" in c.quote for c in a.citations if c.source != "Harbor Gazette")
    assert a.text.startswith("Yes.")
    assert [p.sources[0] for p in a.trace.parts] == ["Valley Ledger", "Tidewater Times"]


def test_temporal_question_is_quoted_in_date_order(multi_settings: Settings) -> None:
    a = rag.answer(
        "What did the Harbor Gazette report about the strike vote, and what did the "
        "Tidewater Times report about the tentative deal?",
        settings=multi_settings,
    )
    assert not a.refused
    dates = [c.published for c in a.citations if c.source in ("Harbor Gazette", "Tidewater Times")]
    assert len(set(c.source for c in a.citations)) >= 2
    assert dates == sorted(dates) or not a.trace.parts[0].supported


def test_unrelated_person_is_refused_with_a_trace(multi_settings: Settings) -> None:
    a = rag.answer("What did Governor Elena Marsh say about the strike?", settings=multi_settings)
    assert a.refused and is_refusal(a.text)
    assert a.trace.probability is not None and a.trace.threshold is not None
    assert a.trace.probability < a.trace.threshold
    assert "Elena Marsh" in " ".join(a.trace.missing)


def test_summary_request_quotes_the_lead(multi_settings: Settings) -> None:
    a = rag.answer("What is the Valley Ledger article about?", settings=multi_settings)
    assert not a.refused and a.trace.kind == "summary"
    check_quotes(a, multi_settings)
    assert a.citations[0].source == "Valley Ledger" and a.citations[0].start == 0


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How far did the misile fly?", "1,100"),
        ("Who is the US Secretary of State in the article?", "Blinken"),
        ("Who is the US Secretary of State here?", "Blinken"),
        ("Who visited Seoul?", "Blinken"),
        ("according to the news, what did blinken say about russia?", "Russia"),
    ],
)
def test_new_wordings_are_answered(seed_settings: Settings, question: str, expected: str) -> None:
    a = rag.answer(question, settings=seed_settings)
    assert not a.refused, a.trace.decision
    assert expected in a.text


def test_summary_of_the_seed_article(seed_settings: Settings) -> None:
    a = rag.answer("Summarize the North Korea article.", settings=seed_settings)
    assert not a.refused
    assert a.citations[0].start == 0 or a.citations[0].quote.startswith("In a significant act")


def test_follow_up_after_a_refusal_searches_the_new_question(seed_settings: Settings) -> None:
    first_q = "Who won the 2022 World Cup?"
    first = rag.answer(first_q, settings=seed_settings)
    assert first.refused
    follow = rag.answer(
        "And how far did the missile fly?", history=[(first_q, first)], settings=seed_settings
    )
    assert "North Korea Launches" not in follow.query, "the refusal's titles are not searched"
    assert not follow.refused and "1,100" in follow.text


def test_partly_answerable_question_names_the_missing_part(multi_settings: Settings) -> None:
    a = rag.answer(
        "Who is the president of Local 14, and what is his salary?", settings=multi_settings
    )
    assert not a.refused and "Dale Ferreira" in a.text
    check_quotes(a, multi_settings)
    assert a.unsupported == ("what is his salary?",)
    assert "don't cover this part: “what is his salary?”" in a.text


QUARRY = {
    "quarry-plan.md": (
        "Quarry plan divides Hillcrest",
        "Hillcrest Tribune",
        "2025-05-01",
        "The proposed limestone quarry north of Hillcrest would bring 300 jobs, Okonjo told "
        "the planning board on Tuesday. Okonjo, who chairs the county board, said the quarry "
        "would open in 2027. Residents said the quarry would bring dust and trucks to their "
        "roads.",
    ),
    "quarry-vote.md": (
        "Planning board delays quarry vote",
        "Hillcrest Tribune",
        "2025-05-08",
        "The planning board delayed its vote on the limestone quarry until June. Okonjo urged "
        "members to approve the quarry plan and its 300 jobs quickly. Opponents gathered 2,000 "
        "signatures against the quarry.",
    ),
    "bake-sale.md": (
        "Bake sale raises $4,000 for the library",
        "Valley Ledger",
        "2025-04-02",
        "Councillor Chidi Okonjo judged the cakes at the library bake sale on Saturday. The "
        "sale raised $4,000 for new books.",
    ),
}


def test_a_who_answer_names_in_full_a_person_its_passages_only_call_by_surname(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, source, day, body) in QUARRY.items():
        (corpus / name).write_text(
            f"---\ntitle: {title}\nsource: {source}\npublished: {day}\n---\n{body}\n",
            encoding="utf-8",
        )
    s = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus)
    rag.ingest([corpus], settings=s)
    q = "Who said the limestone quarry would bring 300 jobs?"
    # Two passages: the quarry stories, which say "Okonjo" only.
    found = rag.retrieve(q, k=2, settings=s)
    assert {p.source for p in found} == {"Hillcrest Tribune"}
    a = rag.answer(q, k=2, settings=s)
    assert not a.refused
    check_quotes(a, s)
    assert a.text.startswith("Chidi Okonjo [1].")
    assert a.citations[0].source == "Valley Ledger" and "Chidi Okonjo" in a.citations[0].quote
    assert any(c.source == "Hillcrest Tribune" for c in a.citations[1:])
    # Within a filter the lookup stays inside it: no full name, no opening with one.
    within = rag.answer(q, k=2, filters={"source": "Hillcrest Tribune"}, settings=s)
    assert not within.refused and "Chidi" not in within.text
    assert {c.source for c in within.citations} == {"Hillcrest Tribune"}
