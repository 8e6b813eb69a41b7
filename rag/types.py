"""Domain values: frozen dataclasses shared by every stage."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


def content_id(*parts: str) -> str:
    """A short stable id for content: 16 hex digits of a SHA-256."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One news article: its text and what is known about it.

    ``doc_id`` is derived from the content (text and metadata), so the same
    article found twice gets one id and a changed article gets a new one.
    """

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    published: dt.date | None = None
    url: str = ""
    author: str = ""

    @classmethod
    def create(
        cls,
        text: str,
        *,
        title: str = "",
        source: str = "",
        published: dt.date | None = None,
        url: str = "",
        author: str = "",
    ) -> Article:
        """Build an article whose id is derived from its content."""
        pub = published.isoformat() if published else ""
        doc_id = content_id(text, title, source, pub, url, author)
        return cls(doc_id, text, title, source, published, url, author)


@dataclass(frozen=True)
class Chunk:
    """A span of an article: ``article.text[start:end] == text``."""

    doc_id: str
    index: int
    text: str
    start: int
    end: int

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}:{self.index}"


def doc_id_of(chunk_id: str) -> str:
    """The article a chunk id belongs to (the inverse of :attr:`Chunk.chunk_id`)."""
    return chunk_id.rpartition(":")[0]


@dataclass(frozen=True)
class Reprint:
    """Another article carrying the same text: typically another outlet's copy of a wire
    story, collapsed into the passage that ranked best (``Passage.also_in``)."""

    doc_id: str
    title: str
    source: str
    published: dt.date | None
    url: str
    chunk_id: str = ""


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its article's metadata and its score.

    ``also_in`` lists the other articles whose near-identical passage was collapsed into
    this one (the same wire story from other outlets), best-ranked first.
    """

    text: str
    score: float
    doc_id: str
    title: str
    source: str
    published: dt.date | None
    url: str
    start: int
    end: int
    chunk_id: str = ""
    also_in: tuple[Reprint, ...] = ()
    # One unit vector per sentence of ``text`` (rows in the order of
    # ``chunking.sentence_spans``), computed at ingest; None for an index made without them.
    sentence_vectors: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


@dataclass(frozen=True)
class Citation:
    """The exact quote an answer rests on.

    ``quote == rag.get_article(doc_id).text[start:end]``; ``also_in`` the other outlets'
    articles that carried the same passage (see :class:`Passage`).
    """

    n: int
    doc_id: str
    title: str
    source: str
    published: dt.date | None
    url: str
    quote: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    also_in: tuple[Reprint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


@dataclass(frozen=True)
class Candidate:
    """A sentence the answerer judged: kept in the answer, or why it was dropped."""

    text: str
    doc_id: str
    start: int
    end: int
    score: float  # the cross-encoder's logit against the question (or its part)
    kept: bool
    reason: str  # "best", "runner-up", "part: <outlet>", "lead" or why it was dropped
    part: str = ""


@dataclass(frozen=True)
class PartTrace:
    """One part of a multi-part question and whether the articles support it."""

    text: str
    sources: tuple[str, ...]
    best: float  # the best logit among the part's sentences (-inf-like when none)
    supported: bool


@dataclass(frozen=True)
class Trace:
    """Why an answer came out as it did: read by the evals and the UI, never re-scored."""

    kind: str = ""  # entity, yes_no, summary, explain or other
    signals: dict[str, float] = field(default_factory=dict)
    probability: float | None = None  # that the passages answer the question
    threshold: float | None = None  # the operating point the probability was compared with
    decision: str = ""  # "answered", "partly answered" or the reason for a refusal
    missing: tuple[str, ...] = ()  # names in the question that no passage mentions
    parts: tuple[PartTrace, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    question: str = ""  # the question as judged (filler dropped, typos corrected)
    dates: str = ""  # the as-of day and the range the question's words resolved to


@dataclass(frozen=True)
class Answer:
    """An answer whose markers ``[n]`` refer to ``citations[i].n``."""

    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    query: str = ""
    passages: tuple[Passage, ...] = ()
    unsupported: tuple[str, ...] = ()
    answerer: str = "extractive"
    trace: Trace = field(default_factory=Trace)

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


@dataclass(frozen=True)
class IngestReport:
    """What a sync did. The id tuples name articles; skipped pairs a path with a reason.

    ``missing`` names the roots that did not exist (nothing that came from them was
    removed); ``notes`` pairs a path with something stored with a caveat (a date that
    was not understood); ``checked`` counts the chunks found by their own vector after
    the sync, ``repaired`` the ones that were not and were stored again.
    """

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    embedded: int = 0
    seconds: float = 0.0
    index_dir: str = ""
    missing: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    checked: int = 0
    repaired: int = 0

    def summary(self) -> str:
        """One line for the end of a run."""
        extra = f"; {self.repaired} unreachable chunks repaired" if self.repaired else ""
        if self.missing:
            extra += f"; missing (nothing removed): {', '.join(self.missing)}"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped; {self.embedded} chunks embedded "
            f"in {self.seconds:.1f}s{extra}"
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


@dataclass(frozen=True)
class ArticleInfo:
    """An indexed article as the library lists it (no text): ``passages`` chunks, and
    ``origins`` the files it came from (``upload: name`` for the web UI's uploads)."""

    doc_id: str
    title: str
    source: str
    published: dt.date | None
    url: str
    passages: int
    origins: tuple[str, ...] = ()
    uploaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


@dataclass(frozen=True)
class ArticlePage:
    """One page of :func:`rag.articles`: ``total`` articles match, ``pages`` pages of them."""

    items: tuple[ArticleInfo, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class Deletion:
    """What :func:`rag.delete_article` did. ``removed_files`` are uploads deleted with the
    article; ``kept_files`` still exist, so the next sync of their folder brings it back."""

    doc_id: str
    title: str
    removed_files: tuple[str, ...] = ()
    kept_files: tuple[str, ...] = ()

    @property
    def returns_on_sync(self) -> bool:
        return bool(self.kept_files)


# Fields for the answerer's own use, left out of every dict and JSON form.
_INTERNAL = frozenset({"sentence_vectors"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in _INTERNAL}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
