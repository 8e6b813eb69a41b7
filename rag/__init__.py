"""Question answering over news articles, grounded in retrieval.

>>> import rag
>>> rag.ingest()                                   # sync corpus/ into the index
>>> rag.retrieve("How far did the missile fly?", k=3)

Nothing heavy is imported here: models, Chroma and LangChain load on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .config import Settings
from .errors import (
    ConfigError,
    EmbeddingError,
    IndexNotReadyError,
    LLMError,
    LoadError,
    ModelNotFoundError,
    QuestionError,
    RagError,
    StoreError,
)
from .types import (
    Answer,
    Article,
    ArticleInfo,
    ArticlePage,
    Chunk,
    Citation,
    Deletion,
    IngestReport,
    Passage,
    Reprint,
    Trace,
)

__all__ = [
    "Answer",
    "Article",
    "ArticleInfo",
    "ArticlePage",
    "Chunk",
    "Citation",
    "ConfigError",
    "Deletion",
    "EmbeddingError",
    "IndexNotReadyError",
    "IngestReport",
    "LLMError",
    "LoadError",
    "ModelNotFoundError",
    "Passage",
    "QuestionError",
    "RagError",
    "Reprint",
    "Settings",
    "StoreError",
    "Trace",
    "add_feed",
    "answer",
    "articles",
    "as_retriever",
    "delete_article",
    "find_passage",
    "get_article",
    "ingest",
    "list_feeds",
    "outlets",
    "remove_feed",
    "retrieve",
    "stats",
    "stream",
    "sync_feeds",
    "warm_up",
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


def outlets(*, settings: Settings | None = None) -> list[str]:
    """Every outlet in the index, sorted; empty when nothing is indexed yet."""
    try:
        return sorted(_pipeline(settings).retriever.sources())
    except IndexNotReadyError:
        return []


def articles(
    query: str = "",
    *,
    page: int = 1,
    page_size: int = 20,
    source: str | list[str] | None = None,
    settings: Settings | None = None,
) -> ArticlePage:
    """One page of the indexed articles, newest first, with passage counts and origins.

    >>> rag.articles("missile", page=1, page_size=20).items[0].title
    """
    from .library import list_articles

    return list_articles(
        _pipeline(settings).index, query, page=page, page_size=page_size, source=source
    )


def delete_article(doc_id: str, *, settings: Settings | None = None) -> Deletion:
    """Remove an article from the index (vectors, lexical index and sync manifest).

    An upload saved by the web UI that holds only this article is deleted too; any other
    file it came from is kept, and ``Deletion.returns_on_sync`` says the next sync of its
    folder will bring the article back.
    """
    from .library import delete_article as delete

    p = _pipeline(settings)
    result = delete(p.index, doc_id)
    p.retriever.lexical.invalidate()
    return result


def find_passage(citation: Citation, passages: Sequence[Passage]) -> Passage | None:
    """The retrieved passage a citation quotes: by chunk id, else the one holding its offsets."""
    for p in passages:
        if citation.chunk_id and p.chunk_id == citation.chunk_id:
            return p
    for p in passages:
        if p.doc_id == citation.doc_id and p.start <= citation.start and citation.end <= p.end:
            return p
    return None


def warm_up(*, settings: Settings | None = None, question: str = "How far did it fly?") -> None:
    """Load the models and the index now (blocking), so the first real question is fast.

    Failures are left for the first question to report.
    """
    import contextlib

    with contextlib.suppress(RagError):
        answer(question, settings=settings)


def stats(*, settings: Settings | None = None, dates: bool = True) -> dict[str, Any]:
    """Articles, chunks, index location, embedding model, last sync time and (unless
    ``dates=False``, which is much faster on a large index) the date facets."""
    return _pipeline(settings).index.stats(dates=dates)  # type: ignore[no-any-return]


def answer(
    question: str,
    history: Sequence[Any] | None = None,
    *,
    k: int | None = None,
    filters: dict[str, Any] | None = None,
    answerer: str | None = None,
    settings: Settings | None = None,
    as_of: Any = None,
) -> Answer:
    """Answer from the articles, citing the exact passages used.

    ``as_of`` (a date or ``YYYY-MM-DD``) answers as on that day: only articles published
    then or before are used, and "this week", "yesterday", "on Wednesday", "last month"...
    are resolved against it (default: today, with no limit); ``trace.dates`` says how.

    >>> a = rag.answer("Why was the launch's timing notable?")
    >>> a.text, a.citations[0].quote, a.refused
    >>> rag.answer("Who won this week?", as_of="2023-09-08").trace.dates
    """
    return _pipeline(settings).answer(  # type: ignore[no-any-return]
        question, history, k=k, filters=filters, answerer=answerer, as_of=as_of
    )


def stream(
    question: str,
    history: Sequence[Any] | None = None,
    *,
    k: int | None = None,
    filters: dict[str, Any] | None = None,
    answerer: str | None = None,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
    as_of: Any = None,
) -> Iterator[str | Answer]:
    """Yield the answer's text as it is produced, then the full :class:`Answer`
    (``as_of`` as for :func:`answer`).

    ``progress`` is called with a short description of each stage ("Reading 6 passages…").
    """
    return _pipeline(settings).stream(  # type: ignore[no-any-return]
        question,
        history,
        k=k,
        filters=filters,
        answerer=answerer,
        progress=progress,
        as_of=as_of,
    )


def as_retriever(
    k: int | None = None, filters: dict[str, Any] | None = None, *, settings: Settings | None = None
) -> Any:
    """A LangChain ``BaseRetriever`` over :func:`retrieve`, for use in your own chains."""
    from .langchain import NewsRetriever

    return NewsRetriever(k=k, filters=filters, settings=settings)


def list_feeds(*, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The feed subscriptions (shared by every client of the index): ``url``, ``name``,
    ``added``, ``last_fetch`` and ``last_error`` (empty when the last fetch worked).

    (Not ``rag.feeds``: that name is the module that reads them.)"""
    from .feeds import list_feeds as subscriptions

    return subscriptions(_pipeline(settings).index)


def add_feed(url: str, name: str = "", *, settings: Settings | None = None) -> dict[str, Any]:
    """Subscribe to an RSS or Atom feed (checked by fetching it; nothing is stored yet:
    :func:`sync_feeds` or ``rag watch`` fetches its articles). Raises RagError with the
    reason when ``url`` is not a feed.

    >>> rag.add_feed("https://example.com/rss.xml", "example")
    """
    from .feeds import add_feed as subscribe

    return subscribe(_pipeline(settings).index, url, name)


def remove_feed(url_or_name: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """Unsubscribe from a feed (by URL or name); its articles stay in the index."""
    from .feeds import remove_feed as unsubscribe

    return unsubscribe(_pipeline(settings).index, url_or_name)


def sync_feeds(*, settings: Settings | None = None) -> IngestReport:
    """Fetch every subscription once and sync what is new (``rag ingest --feeds``)."""
    from .feeds import FeedReader

    p = _pipeline(settings)
    report = FeedReader(p.index).sync_feeds()
    p.retriever.lexical.invalidate()
    return report
