"""The default pipeline: index, retriever and answerers built once per settings value."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from .answering.extractive import ExtractiveAnswerer
from .chat import History, condense, normalize_history, resolve_pronouns
from .config import Settings
from .errors import ConfigError
from .index import Index
from .retrieval import MAX_QUESTION_CHARS, Filters, Retriever, clean_question
from .types import Answer, IngestReport, Passage


class Answerer(Protocol):
    """One method: yield text pieces as they are produced, then the full Answer."""

    name: str

    def generate(
        self, question: str, query: str, passages: list[Passage]
    ) -> Iterator[str | Answer]: ...


class Pipeline:
    """Everything one process needs to ingest, retrieve and answer, built lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = Index(settings)
        self.retriever = Retriever(self.index)
        self._answerers: dict[str, Any] = {}

    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.answerer
        if name not in self._answerers:
            if name == "extractive":
                from .models import get_reranker

                self._answerers[name] = ExtractiveAnswerer(
                    self.index.embedder,
                    get_reranker(self.settings.rerank_model),
                    self.settings.min_score,
                )
            elif name == "llm":
                from .answering.llm import LLMAnswerer

                self._answerers[name] = LLMAnswerer(self.settings, embedder=self.index.embedder)
            else:
                raise ConfigError(f"unknown answerer {name!r}: use 'extractive' or 'llm'")
        return self._answerers[name]  # type: ignore[no-any-return]

    def ingest(
        self, paths: Sequence[str | Path] | None = None, *, quiet: bool = True
    ) -> IngestReport:
        """Sync into the index; the next search sees the change at once."""
        report = self.index.ingest(paths, quiet=quiet)
        self.retriever.lexical.invalidate()
        return report

    def standalone_query(
        self, question: str, history: History | None, answerer: str | None = None
    ) -> str:
        turns = normalize_history(history)
        if not turns:
            return question
        chosen = self.answerer(answerer)
        rewrite = getattr(chosen, "condense", None)
        if rewrite is not None:
            return str(rewrite(question, turns))
        return condense(question, turns)

    def stream(
        self,
        question: str,
        history: History | None = None,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        answerer: str | None = None,
    ) -> Iterator[str | Answer]:
        question = clean_question(question)
        # A rewrite with the history's context keeps the question first; cut what is too long.
        query = self.standalone_query(question, history, answerer)[:MAX_QUESTION_CHARS]
        passages = self.retriever.retrieve(query, self.settings.k if k is None else k, filters)
        # Candidate sentences are judged against the question with its "he"/"she" resolved.
        question = resolve_pronouns(question, normalize_history(history))
        if not passages:
            text = "No articles match these filters, so there is nothing to answer from."
            yield text
            yield Answer(
                text=text, refused=True, query=query, answerer=answerer or self.settings.answerer
            )
            return
        yield from self.answerer(answerer).generate(question, query, passages)

    def answer(self, question: str, history: History | None = None, **kwargs: Any) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, history, **kwargs):
            if isinstance(item, Answer):
                final = item
        assert final is not None, "an answerer must end with an Answer"
        return final


@functools.lru_cache(maxsize=4)
def _pipeline_for(settings: Settings) -> Pipeline:
    return Pipeline(settings)


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The pipeline for ``settings`` (default: from the environment), built on first use."""
    return _pipeline_for(settings or Settings.from_env())
