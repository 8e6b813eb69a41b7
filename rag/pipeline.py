"""The default pipeline: index, retriever and answerers built once per settings value.

``Answerer`` is re-exported from :mod:`rag.protocols`, where the extension points live.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .answering.evidence import asks_person, full_form, short_names
from .answering.question import Question, Vocabulary, analyze
from .chat import History, normalize_history, resolve_pronouns, unresolved_reference
from .config import Settings
from .dates import When, dated, question_time
from .errors import IndexNotReadyError
from .index import Index
from .protocols import Answerer, Embedder, QueryRewriter, Reranker, rewriter_for
from .protocols import answerers as answerer_registry
from .protocols import rewriters as rewriter_registry
from .retrieval import MAX_QUESTION_CHARS, Filters, Retriever, clean_question
from .text import NO_MATCH, strip_filler, unclear_reference
from .types import Answer, IngestReport, Passage, Trace

# Passages retrieved for each outlet a multi-part question names, besides the k for the whole.
PART_K = 3
LEAD_DOCS = 3  # articles whose lead an entity question reads for full names
FULL_NAME_READ = 8  # passages read for a surname's full form
NAME_ASKS = ("who", "whom", "whose", "which", "what person", "what individual")


class Pipeline:
    """Everything one process needs to ingest, retrieve and answer, built lazily.

    Every part can be injected (a stand-in in a test, your own answerer); what is not given
    is built from ``settings`` on first use, answerers and query rewriters by the names
    registered in :mod:`rag.protocols`::

        Pipeline(settings, answerers={"extractive": my_answerer}, rewriter=RuleRewriter())
    """

    def __init__(
        self,
        settings: Settings,
        *,
        index: Index | None = None,
        retriever: Retriever | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        answerers: Mapping[str, Answerer] | None = None,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        self.settings = settings
        self.index = index or Index(settings, embedder=embedder)  # type: ignore[arg-type]
        self.retriever = retriever or Retriever(self.index)
        self._embedder = embedder
        self._reranker = reranker
        self._answerers: dict[str, Answerer] = dict(answerers or {})
        self._rewriter = rewriter
        self._rewriters: dict[str, QueryRewriter] = {}

    @property
    def embedder(self) -> Any:
        """The embedder the index uses, loaded on first use."""
        return self._embedder or self.index.embedder

    @property
    def reranker(self) -> Any:
        """The cross-encoder named by ``settings.rerank_model``, loaded on first use."""
        if self._reranker is None:
            from .models import get_reranker

            self._reranker = get_reranker(self.settings.rerank_model)
        return self._reranker

    def answerer(self, name: str | None = None) -> Answerer:
        """The answerer registered as ``name`` (default: ``settings.answerer``), built once."""
        name = name or self.settings.answerer
        if name not in self._answerers:
            self._answerers[name] = answerer_registry.get(name)(self)
        return self._answerers[name]

    def rewriter(self, answerer: str | None = None) -> QueryRewriter:
        """The query rewriter for follow-ups to ``answerer`` (the injected one, if any)."""
        if self._rewriter is not None:
            return self._rewriter
        name = rewriter_for(answerer or self.settings.answerer)
        if name not in self._rewriters:
            self._rewriters[name] = rewriter_registry.get(name)(self)
        return self._rewriters[name]

    def warm_up(self, question: str | None = None) -> None:
        """Load what the first question needs (embedder, lexical index, answerer, reranker),
        so that it is answered fast; with ``question``, also answer it once."""
        self.embedder.encode(["warm up"])
        with contextlib.suppress(IndexNotReadyError):  # nothing indexed yet: nothing to load
            self.retriever.retrieve("warm up", 1)
        self.answerer()
        self.reranker.score("warm up", ["warm up"])
        if question:
            self.answer(question)

    def preload(self) -> threading.Thread:
        """Load the models in a background thread while the caller goes on (a cold
        ``rag ask`` opens Chroma meanwhile); returns the thread. Loading errors are left
        for the first real use to report."""

        embedder, reranker = self.embedder, self.reranker  # made here, loaded there

        def load() -> None:
            with contextlib.suppress(Exception):
                embedder.encode(["warm up"])
                reranker.score("warm up", ["warm up"])
                import bm25s  # noqa: F401  (scipy: the slowest import of the BM25 side)

        thread = threading.Thread(target=load, name="rag-preload", daemon=True)
        thread.start()
        return thread

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
        return self.rewriter(answerer).rewrite(question, turns)

    def stream(
        self,
        question: str,
        history: History | None = None,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        answerer: str | None = None,
        progress: Callable[[str], None] | None = None,
        as_of: object = None,
    ) -> Iterator[str | Answer]:
        question = clean_question(question)
        when = question_time(question, as_of, self.settings.recency)
        for item in self._stream(question, history, k, filters, answerer, when, progress):
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
        progress: Callable[[str], None] | None = None,
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
        if progress is not None:  # the UI shows the stage while the answerer works
            progress(f"Reading {len(passages)} passage{'' if len(passages) == 1 else 's'}…")
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
            extra[:0] = self.retriever.leads([passages[0].doc_id])
        elif analysis.kind == "entity" and analysis.asks in NAME_ASKS:
            # An article names a person in full in its lead ("Sam Altman"), then by surname.
            docs = list(dict.fromkeys(p.doc_id for p in passages))[:LEAD_DOCS]
            extra.extend(self.retriever.leads(docs))
            if asks_person(analysis):
                extra.extend(self._full_names(analysis, passages + extra, filters))
        seen = {p.chunk_id for p in passages}
        merged = list(passages)
        for p in extra:
            if p.chunk_id not in seen:
                seen.add(p.chunk_id)
                merged.append(p)
        return merged

    def _full_names(
        self, analysis: Question, passages: list[Passage], filters: Filters | None
    ) -> list[Passage]:
        """For each surname the passages never spell out ("Altman"), the passage of the
        collection that best does ("Sam Altman"), so that a who answer can name the person
        in full and cite where it is spelled."""
        found: list[Passage] = []
        for name in short_names(analysis, passages):
            for p in self.retriever.mentions(name, FULL_NAME_READ, filters):
                if full_form(name, [p]):
                    found.append(p)
                    break
        return found

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
