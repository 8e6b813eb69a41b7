"""Hybrid retrieval: dense search in Chroma and BM25, fused, optionally reranked, filtered.

``Passage.score`` is a relevance in [0, 1]: the cross-encoder's probability when
reranking is on, else the cosine similarity of question and passage. The order is
the fused (or reranked) order.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .errors import QuestionError
from .index import Index
from .lexical import LexicalIndex
from .store import published_num
from .types import Passage, Reprint

Filters = Mapping[str, Any]
MAX_QUESTION_CHARS = 2000
RRF_K = 60  # the constant from Cormack et al.; results are insensitive to it around 60
# A question's own date range: its searches count this much beside the whole collection's
# (ranks in a few days' articles mean less than ranks in all of them), and a passage
# published in the range has its fused score multiplied by IN_RANGE (evals/README.md).
BOOST_WEIGHT = 0.5
IN_RANGE = 1.2
# Passages read beyond those still needed, so that a near duplicate seldom costs a second read.
READ_AHEAD = 4
_WORDS = re.compile(r"\w+")
# Outlets' copies of one wire story are collapsed into the best-ranked one: two passages are
# copies when COPY_SHARED of the shorter one's word trigrams are in the other. Measured on
# the 22,384 passages of the MultiHop-RAG and RealTimeQA articles (evals/README.md): no two
# passages of 20+ trigrams from different outlets share more than 0.333, while 99.4% of the
# passages of edited copies (own headline, dateline, credit line, house style, last
# paragraph cut) share 0.6 or more with the original's best-matching passage.
COPY_SHARED = 0.6
COPY_MIN_TRIGRAMS = 20


def clean_question(question: str) -> str:
    """Drop control characters and extra spaces; reject empty and oversized questions."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in question)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: ask something about the articles")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}: ask a shorter question"
        )
    return text


def _as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    from .dates import parse_date

    parsed = parse_date(value)
    if parsed is None:
        raise QuestionError(f"filter {name}={value!r} is not a date; use YYYY-MM-DD")
    return parsed


def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORDS.findall(text.lower())
    return frozenset(tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2)))


def _near_duplicate(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> bool:
    """The same text twice (a wire story from two outlets): most of the shorter passage's
    word trigrams are in the other. A heading or credit line (under COPY_MIN_TRIGRAMS) is a
    copy only of the same words, never of a long passage that happens to contain them."""
    if min(len(a), len(b)) < COPY_MIN_TRIGRAMS:
        return a == b
    return len(a & b) / min(len(a), len(b)) >= COPY_SHARED


class Copies:
    """Passages taken in rank order, each near duplicate of one already kept collapsed into
    it: a copy from another article (another outlet's copy of the same wire story) is listed
    in the kept passage's ``also_in``; a copy within one article is just dropped. At most
    ``limit`` passages are kept; copies of them are still collected after that."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: list[Passage] = []
        self._shingles: list[frozenset[tuple[str, ...]]] = []
        self._copies: list[dict[str, Reprint]] = []

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def full(self) -> bool:
        return len(self._kept) >= self.limit

    def add(self, p: Passage) -> None:
        mine = _trigrams(p.text)
        host = next((i for i, s in enumerate(self._shingles) if _near_duplicate(mine, s)), -1)
        if host < 0:
            if not self.full:
                self._kept.append(p)
                self._shingles.append(mine)
                self._copies.append({})
            return
        kept = self._kept[host]
        if p.doc_id not in {kept.doc_id, *(r.doc_id for r in kept.also_in)}:
            for r in (_reprint(p), *p.also_in):
                self._copies[host].setdefault(r.doc_id, r)

    def passages(self) -> list[Passage]:
        return [
            replace(p, also_in=(*p.also_in, *found.values())) if found else p
            for p, found in zip(self._kept, self._copies, strict=True)
        ]


def collapse_copies(passages: Sequence[Passage], limit: int) -> list[Passage]:
    """The first ``limit`` passages that are not near duplicates of a better-ranked one, each
    listing the other articles' copies of it in ``also_in`` (see :class:`Copies`)."""
    copies = Copies(limit)
    for p in passages:
        copies.add(p)
    return copies.passages()


def _reprint(p: Passage) -> Reprint:
    return Reprint(p.doc_id, p.title, p.source, p.published, p.url, p.chunk_id)


def _doc_ids(filters: Filters | None) -> list[str]:
    """The ``doc_id`` filter (one id or a list: "ask only these articles"), checked."""
    wanted = (filters or {}).get("doc_id") if isinstance(filters, Mapping) else None
    if not wanted:
        return []
    ids = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(ids, list | tuple) or not all(isinstance(i, str) and i for i in ids):
        raise QuestionError(f"filter doc_id={wanted!r}: give an article id or a list of them")
    return list(dict.fromkeys(ids))


def _with_docs(where: dict[str, Any] | None, docs: list[str]) -> dict[str, Any] | None:
    if not docs:
        return where
    clause = {"doc_id": {"$in": docs}}
    return clause if where is None else {"$and": [*where.get("$and", [where]), clause]}


class Retriever:
    """Finds the passages that best match a query."""

    def __init__(self, index: Index, *, rerank: bool | None = None) -> None:
        self.index = index
        self.settings = index.settings
        self.rerank = self.settings.rerank if rerank is None else rerank
        self.lexical = LexicalIndex(index.store, index.settings.index_dir / "lexical")

    def sources(self) -> list[str]:
        """Every outlet in the index, for filters and the UI."""
        return self.lexical.sources(self.index.active_generation())

    def leads(self, doc_ids: Sequence[str]) -> list[Passage]:
        """The first passage of each article (its headline and lead), where there is one."""
        gen = self.index.active_generation()
        found = self.index.store.get_chunks(gen, [f"{d}:0" for d in doc_ids])
        return [found[f"{d}:0"] for d in doc_ids if f"{d}:0" in found]

    def mentions(self, term: str, k: int = 8, filters: Filters | None = None) -> list[Passage]:
        """The ``k`` passages BM25 ranks best for ``term`` alone, within ``filters`` (no
        embedding, no rerank): where the collection spells out a name that the retrieved
        passages only shorten ("Sam Altman" for "Altman")."""
        gen = self.index.active_generation()
        sources, since, until = self._filters(gen, filters)
        found = self.lexical.search(gen, term, k, sources, since, until, _doc_ids(filters))
        ids = [cid for cid, _ in found]
        got = self.index.store.get_chunks(gen, ids) if ids else {}
        return [got[cid] for cid in ids if cid in got]

    def _filters(self, gen: str, filters: Filters | None) -> tuple[list[str], int, int]:
        if not filters:
            return [], 0, 0
        if not isinstance(filters, Mapping):
            raise QuestionError(f"filters={filters!r}: give a dict with source, since or until")
        unknown = set(filters) - {"source", "since", "until", "doc_id"}
        if unknown:
            raise QuestionError(
                f"unknown filter(s) {sorted(unknown)}; use source, since, until, doc_id"
            )
        sources: list[str] = []
        wanted = filters.get("source")
        names_ok = isinstance(wanted, list | tuple) and all(isinstance(n, str) for n in wanted)
        if wanted and not (isinstance(wanted, str) or names_ok):
            raise QuestionError(
                f"filter source={wanted!r}: give an outlet name or a list of outlet names"
            )
        if wanted:
            known = {s.lower(): s for s in self.lexical.sources(gen)}
            for name in [wanted] if isinstance(wanted, str) else list(wanted):
                match = known.get(str(name).strip().lower())
                if match is None:
                    listing = ", ".join(sorted(known.values())[:20]) or "none"
                    raise QuestionError(
                        f"no articles from outlet {name!r}; outlets in the index: {listing}"
                    )
                sources.append(match)
        since = published_num(_as_date(filters["since"], "since")) if filters.get("since") else 0
        until = published_num(_as_date(filters["until"], "until")) if filters.get("until") else 0
        if since and until and since > until:
            raise QuestionError("filter since is after until: swap the dates")
        return sources, since, until

    @staticmethod
    def _where(sources: list[str], since: int, until: int) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if sources:
            clauses.append({"source": {"$in": sources}})
        if since:
            clauses.append({"published_num": {"$gte": since}})
        if until:
            clauses.append({"published_num": {"$lte": until}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def retrieve(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        *,
        mode: str = "hybrid",
        boost: Filters | None = None,
        prior: Callable[[dt.date | None, dt.date | None], float] | None = None,
    ) -> list[Passage]:
        """Best ``k`` passages; ``mode`` is hybrid, dense or lexical (for measurements).

        ``boost`` (filters, e.g. the dates a question names) is searched as well and its
        rankings fused in, so passages matching it rank higher without excluding the rest;
        ``prior`` multiplies each passage's fused score by a factor of its date.
        """
        query = clean_question(query)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise QuestionError(f"k={k!r}: ask for a whole number of passages, at least 1")
        gen = self.index.active_generation()
        sources, since, until = self._filters(gen, filters)
        docs = _doc_ids(filters)
        pool = max(k * 3, 30)
        vector = self.index.embedder.encode([query])[0]

        # Searches return ids only; the passages themselves (text, metadata and sentence
        # vectors) are read for the best-ranked few, once fused.
        dense: list[str] = []
        if mode in ("hybrid", "dense"):
            where = _with_docs(self._where(sources, since, until), docs)
            dense = self.index.store.search(gen, vector.tolist(), pool, where)
        lexical: list[str] = []
        if mode in ("hybrid", "lexical"):
            found = self.lexical.search(gen, query, pool, sources, since, until, docs)
            lexical = [cid for cid, _ in found]

        rankings = [dense, lexical]
        if boost:
            b_sources, b_since, b_until = self._filters(gen, boost)
            if mode in ("hybrid", "dense"):
                where = self._where(b_sources, b_since, b_until)
                rankings.append(self.index.store.search(gen, vector.tolist(), pool, where))
            if mode in ("hybrid", "lexical"):
                found = self.lexical.search(gen, query, pool, b_sources, b_since, b_until)
                rankings.append([cid for cid, _ in found])
        fused: dict[str, float] = {}
        for n, ranking in enumerate(rankings):
            weight = 1.0 if n < 2 else BOOST_WEIGHT
            for rank, cid in enumerate(ranking):
                fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + rank + 1)
        if boost:
            in_range = {cid for ranking in rankings[2:] for cid in ranking}
            fused = {c: s * (IN_RANGE if c in in_range else 1.0) for c, s in fused.items()}
        if prior is not None:
            dates = self.lexical.published(gen, list(fused))
            newest = max((d for d in dates.values() if d), default=None)
            fused = {c: s * prior(dates.get(c), newest) for c, s in fused.items()}
        order = sorted(fused, key=lambda cid: -fused[cid])
        depth = max(k * 2, 20) if self.rerank else k
        candidates = self._read_deduped(gen, order, depth, vector.tolist())
        if self.rerank and candidates:
            candidates = self._rerank(query, candidates)
        return candidates[:k]

    def _read_deduped(
        self, gen: str, order: Sequence[str], limit: int, vector: Sequence[float]
    ) -> list[Passage]:
        """The passages of ``order``, read a few at a time, near duplicates collapsed
        (:class:`Copies`), until ``limit`` are kept; scored by cosine similarity with
        ``vector``. Copies among the passages read ahead are listed too, at no extra read."""
        copies = Copies(limit)
        at = 0
        while at < len(order) and not copies.full:
            ids = list(order[at : at + limit - len(copies) + READ_AHEAD])
            at += len(ids)
            found = self.index.store.get_chunks(gen, ids, vector)
            for cid in ids:
                if cid in found:  # else removed since the search (or BM25 lags behind)
                    copies.add(found[cid])
        return copies.passages()

    def _rerank(self, query: str, passages: list[Passage]) -> list[Passage]:
        from .models import get_reranker

        reranker = get_reranker(self.settings.rerank_model)
        texts = [f"{p.title}. {p.text}" if p.title else p.text for p in passages]
        logits = reranker.score(query, texts)
        scored = [
            replace(p, score=1.0 / (1.0 + math.exp(-float(s))))
            for p, s in zip(passages, logits, strict=True)
        ]
        return sorted(scored, key=lambda p: -p.score)
