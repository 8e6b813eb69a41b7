"""Question answering over news articles, grounded in retrieval.

>>> import rag
>>> rag.ingest()                                   # sync corpus/ into the index
>>> rag.retrieve("How far did the missile fly?", k=3)

Nothing heavy is imported here: models, Chroma and LangChain load on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from .config import Settings
from .errors import (
    ConfigError,
    IndexNotReadyError,
    LLMError,
    LoadError,
    ModelNotFoundError,
    QuestionError,
    RagError,
    StoreError,
)
from .types import Answer, Article, Chunk, Citation, IngestReport, Passage, Trace

__all__ = [
    "Answer",
    "Article",
    "Chunk",
    "Citation",
    "ConfigError",
    "IndexNotReadyError",
    "IngestReport",
    "LLMError",
    "LoadError",
    "ModelNotFoundError",
    "Passage",
    "QuestionError",
    "RagError",
    "Settings",
    "StoreError",
    "Trace",
    "answer",
    "as_retriever",
    "get_article",
    "ingest",
    "retrieve",
    "stats",
    "stream",
]


def _pipeline(settings: Settings | None) -> Any:
    from .pipeline import get_pipeline

    return get_pipeline(settings)


def ingest(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    settings: Settings | None = None,
    quiet: bool = True,
) -> IngestReport:
    """Sync files and folders (default: the corpus folder) into the index.

    ``paths`` is one file or folder (a string or a Path) or a list of them. A path that
    does not exist removes nothing and is named in ``IngestReport.missing``.

    >>> rag.ingest("corpus/").summary()
    >>> rag.ingest(["corpus/", Path("more/news.jsonl")])
    """
    return _pipeline(settings).ingest(paths, quiet=quiet)  # type: ignore[no-any-return]


def retrieve(
    question: str,
    k: int | None = None,
    filters: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
) -> list[Passage]:
    """The passages that best match ``question``, best first.

    ``filters`` may hold ``source`` (a name or list), ``since`` and ``until`` (dates).
    """
    p = _pipeline(settings)
    k = p.settings.k if k is None else k
    return p.retriever.retrieve(question, k, filters)  # type: ignore[no-any-return]


def get_article(doc_id: str, *, settings: Settings | None = None) -> Article:
    """The whole stored article, so ``article.text[c.start:c.end] == c.quote``."""
    return _pipeline(settings).index.get_article(doc_id)  # type: ignore[no-any-return]


def stats(*, settings: Settings | None = None) -> dict[str, Any]:
    """Articles, chunks, index location, embedding model and last sync time."""
    return _pipeline(settings).index.stats()  # type: ignore[no-any-return]


def answer(
    question: str,
    history: Sequence[Any] | None = None,
    *,
    k: int | None = None,
    filters: dict[str, Any] | None = None,
    answerer: str | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer from the articles, citing the exact passages used.

    >>> a = rag.answer("Why was the launch's timing notable?")
    >>> a.text, a.citations[0].quote, a.refused
    """
    return _pipeline(settings).answer(  # type: ignore[no-any-return]
        question, history, k=k, filters=filters, answerer=answerer
    )


def stream(
    question: str,
    history: Sequence[Any] | None = None,
    *,
    k: int | None = None,
    filters: dict[str, Any] | None = None,
    answerer: str | None = None,
    settings: Settings | None = None,
) -> Iterator[str | Answer]:
    """Yield the answer's text as it is produced, then the full :class:`Answer`."""
    return _pipeline(settings).stream(  # type: ignore[no-any-return]
        question, history, k=k, filters=filters, answerer=answerer
    )


def as_retriever(
    k: int | None = None, filters: dict[str, Any] | None = None, *, settings: Settings | None = None
) -> Any:
    """A LangChain ``BaseRetriever`` over :func:`retrieve`, for use in your own chains."""
    from .langchain import NewsRetriever

    return NewsRetriever(k=k, filters=filters, settings=settings)
