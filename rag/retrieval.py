"""Retrieval: dense search in Chroma with filters by outlet and date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .errors import QuestionError
from .index import Index
from .store import published_num
from .types import Passage

Filters = Mapping[str, Any]


def _as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    from .loaders import parse_date

    parsed = parse_date(value)
    if parsed is None:
        raise QuestionError(f"filter {name}={value!r} is not a date; use YYYY-MM-DD")
    return parsed


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """``{"source": str|list, "since": date, "until": date}`` -> a Chroma ``where`` clause."""
    if not filters:
        return None
    unknown = set(filters) - {"source", "since", "until"}
    if unknown:
        raise QuestionError(f"unknown filter(s) {sorted(unknown)}; use source, since, until")
    clauses: list[dict[str, Any]] = []
    source = filters.get("source")
    if source:
        sources = [source] if isinstance(source, str) else list(source)
        clauses.append({"source": {"$in": sources}})
    if filters.get("since"):
        clauses.append({"published_num": {"$gte": published_num(_as_date(filters["since"], "since"))}})
    if filters.get("until"):
        clauses.append({"published_num": {"$lte": published_num(_as_date(filters["until"], "until"))}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Retriever:
    """Finds the passages that best match a query."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def retrieve(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Passage]:
        query = query.strip()
        if not query:
            raise QuestionError("the question is empty: ask something about the articles")
        gen = self.index.active_generation()
        where = chroma_where(filters)
        vector = self.index.embedder.encode([query])[0]
        return self.index.store.query(gen, vector.tolist(), k, where)
