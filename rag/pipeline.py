"""The default pipeline: index, retriever and answerers built once per settings value."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from .answering.extractive import AnswererConfig, ExtractiveAnswerer
from .answering.question import Question, Vocabulary, analyze
from .chat import History, condense, normalize_history, resolve_pronouns, unresolved_reference
from .config import Settings
from .dates import When, dated, question_time
from .errors import ConfigError
from .index import Index
from .retrieval import MAX_QUESTION_CHARS, Filters, Retriever, clean_question
from .text import NO_MATCH, strip_filler, unclear_reference
from .types import Answer, IngestReport, Passage, Trace

# Passages retrieved for each outlet a multi-part question names, besides the k for the whole.
PART_K = 3


class Answerer(Protocol):
    """One method: yield text pieces as they are produced, then the full Answer."""

    name: str

    def generate(
        self,
        question: str,
        query: str,
        passages: list[Passage],
        analysis: Question | None = None,
        main: int | None = None,
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
                    AnswererConfig(threshold=self.settings.answer_threshold),
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
        as_of: object = None,
    ) -> Iterator[str | Answer]:
        question = clean_question(question)
        when = question_time(question, as_of, self.settings.recency)
        for item in self._stream(question, history, k, filters, answerer, when):
            if isinstance(item, Answer):
                item = dated(item, when, self.settings.max_age_days)
            yield item

    def _stream(
        self,
        question: str,
        history: History | None,
        k: int | None,
        filters: Filters | None,
        answerer: str | None,
        when: When,
    ) -> Iterator[str | Answer]:
        filters = when.filters(filters)
        prior = when.prior if when.latest or when.recency > 0 else None
        dates: dict[str, Any] = {"boost": when.boost(filters), "prior": prior}
        vague = None if normalize_history(history) else unresolved_reference(question)
        name = answerer or self.settings.answerer
        if vague is not None:
            reason = f"refused: “{vague}” refers to nothing asked before"
            yield from _refusal(unclear_reference(vague), question, name, reason)
            return
        # A rewrite with the history's context keeps the question first; cut what is too long.
        query = self.standalone_query(question, history, answerer)[:MAX_QUESTION_CHARS]
        k = self.settings.k if k is None else k
        search = strip_filler(query)
        passages = self.retriever.retrieve(search, k, filters, **dates)
        if passages:
            # Misspelt words ("misile") are searched again in the passages' own spelling.
            vocab = Vocabulary([f"{p.title} {p.text}" for p in passages])
            corrected = vocab.correct(search)
            if corrected != search:
                passages = self.retriever.retrieve(corrected, k, filters, **dates)
        # Candidate sentences are judged against the question with its "he"/"she" resolved.
        question = resolve_pronouns(question, normalize_history(history))
        if not passages:
            yield from _refusal(NO_MATCH, query, name, "refused: no passage matches the filters")
            return
        analysis = analyze(question, self.retriever.sources())
        main = len(passages)
        passages = self._evidence(analysis, passages, filters)
        yield from self.answerer(answerer).generate(question, query, passages, analysis, main)

    def _evidence(
        self, analysis: Question, passages: list[Passage], filters: Filters | None
    ) -> list[Passage]:
        """The passages plus what each part of a multi-part question needs: the best passages
        of every outlet it names, and for a summary request the article's lead."""
        extra: list[Passage] = []
        for part in analysis.parts:
            outlet = part.sources[0]
            wanted = dict(filters or {})
            if wanted.get("source") and outlet not in _as_list(wanted["source"]):
                continue
            wanted["source"] = outlet
            found: list[Passage] = []
            if part.dates:  # "the report from Wired on 2023-11-25": that day's articles
                dated = {**wanted, "since": min(part.dates), "until": max(part.dates)}
                found = self.retriever.retrieve(part.text, PART_K, dated)
            extra.extend(found or self.retriever.retrieve(part.text, PART_K, wanted))
        if analysis.kind == "summary":
            lead = self.retriever.lead(passages[0].doc_id)
            if lead is not None:
                extra.insert(0, lead)
        seen = {p.chunk_id for p in passages}
        merged = list(passages)
        for p in extra:
            if p.chunk_id not in seen:
                seen.add(p.chunk_id)
                merged.append(p)
        return merged

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


def _refusal(text: str, query: str, answerer: str, reason: str) -> Iterator[str | Answer]:
    yield text
    yield Answer(
        text=text, refused=True, query=query, answerer=answerer, trace=Trace(decision=reason)
    )


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]
