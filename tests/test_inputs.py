"""Arguments of the wrong type or value are a RagError that says what to pass, never a raw
TypeError (which the web UI shows only as "the upstream Gradio app has raised an exception")."""

from __future__ import annotations

from typing import Any

import pytest

import rag
from rag.config import Settings

QUESTION = "How far did the missile fly?"


@pytest.mark.parametrize("k", [2.5, "3", 0, -1, True])
def test_a_bad_k_is_a_question_error(seed_settings: Settings, k: Any) -> None:
    with pytest.raises(rag.QuestionError, match=r"k=.*whole number"):
        rag.retrieve(QUESTION, k=k, settings=seed_settings)
    with pytest.raises(rag.QuestionError, match=r"k=.*whole number"):
        rag.answer(QUESTION, k=k, settings=seed_settings)


@pytest.mark.parametrize(
    ("filters", "says"),
    [({"source": 5}, "outlet name"), ({"source": [5]}, "outlet name"), (5, "give a dict")],
)
def test_bad_filters_are_a_question_error(seed_settings: Settings, filters: Any, says: str) -> None:
    with pytest.raises(rag.QuestionError, match=says):
        rag.answer(QUESTION, filters=filters, settings=seed_settings)


@pytest.mark.parametrize("history", ["just a string", 5, [5], [["only one"]], [{"a": 1}, 3]])
def test_odd_history_shapes_are_a_question_error(seed_settings: Settings, history: Any) -> None:
    with pytest.raises(rag.QuestionError, match="history"):
        rag.answer(QUESTION, history=history, settings=seed_settings)


def test_a_long_rewritten_query_is_cut_not_blamed_on_the_question(
    seed_settings: Settings,
) -> None:
    names = " ".join(f"Name{n} Person{n}" for n in range(20_000))
    history = [("Who is it?", f"It is {names}.")]
    answer = rag.answer("What did he say?", history=history, settings=seed_settings)
    assert len(answer.query) <= 2000 and answer.query.startswith("What did he say?")
