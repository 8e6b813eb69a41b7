"""The indexed articles as a library: list and search them, delete one, keep the manifest right.

Deleting an article removes its record and its chunks from Chroma and bumps the shared
revision, so every process rebuilds its BM25 index. Its origins go with its record, so a
later sync of a folder that still holds the file loads the file again and brings it back.
A file the web UI saved under ``corpus/uploads/`` that holds nothing but this article is
deleted with it (it would otherwise come back on the next upload or start-up); any other
file is left alone and the result says the next sync will bring the article back.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dates import parse_date
from .errors import QuestionError, RagError
from .types import ArticleInfo, ArticlePage, Deletion

if TYPE_CHECKING:
    from .index import Index

MAX_PAGE_SIZE = 200


def _files(meta: dict[str, Any]) -> list[str]:
    raw = meta.get("origins") or "[]"
    return sorted({str(o[0]) for o in json.loads(str(raw))})


def uploads_dir(index: Index) -> Path:
    """Where the web UI saves uploads: inside the corpus, so `rag ingest` keeps them too."""
    return index.settings.corpus_dir / "uploads"


def origin_label(file: str, index: Index) -> str:
    """``upload``, a path relative to the corpus, or the file's own path."""
    path = Path(file)
    for folder, label in ((uploads_dir(index), "upload"), (index.settings.corpus_dir, "")):
        try:
            rel = path.resolve().relative_to(folder.resolve())
        except (ValueError, OSError):
            continue
        return f"upload: {rel}" if label else str(rel)
    return file


def info(doc_id: str, meta: dict[str, Any], index: Index) -> ArticleInfo:
    files = _files(meta)
    return ArticleInfo(
        doc_id=doc_id,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published=parse_date(meta.get("published")),
        url=str(meta.get("url", "")),
        passages=int(meta.get("n_chunks", 0) or 0),
        origins=tuple(origin_label(f, index) for f in files),
        uploaded=any(_inside(Path(f), uploads_dir(index)) for f in files),
    )


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def list_articles(
    index: Index,
    query: str = "",
    *,
    page: int = 1,
    page_size: int = 20,
    source: str | list[str] | None = None,
) -> ArticlePage:
    """One page of the indexed articles, newest first, matching ``query`` and ``source``.

    ``query`` matches title, outlet, URL and origin (case-insensitive, every word).
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise QuestionError(f"page={page!r}: pages are numbered from 1")
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise QuestionError(f"page_size={page_size!r}: give a whole number")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise QuestionError(f"page_size={page_size}: give 1 to {MAX_PAGE_SIZE}")
    state = index.store.state()
    if not state.get("active"):
        return ArticlePage((), 0, 1, page_size)
    manifest = index.store.manifest(index.active_generation())
    words = (query or "").lower().split()
    outlets = {source.lower()} if isinstance(source, str) else {s.lower() for s in source or ()}
    rows = []
    for doc_id, meta in manifest.items():
        item = info(doc_id, meta, index)
        if outlets and item.source.lower() not in outlets:
            continue
        hay = " ".join((item.title, item.source, item.url, *item.origins)).lower()
        if all(w in hay for w in words):
            rows.append(item)
    rows.sort(key=lambda a: (a.published or dt.date.min, a.title), reverse=True)
    pages = max(1, math.ceil(len(rows) / page_size))
    page = min(page, pages)
    shown = rows[(page - 1) * page_size : page * page_size]
    return ArticlePage(tuple(shown), len(rows), page, page_size)


def delete_article(index: Index, doc_id: str) -> Deletion:
    """Remove one article from Chroma (and so from the lexical index) and keep the manifest
    right: see the module docstring for what happens to the file it came from."""
    from .index import _INGEST_LOCK, IngestLock

    with _INGEST_LOCK, IngestLock(index.store):
        gen = index.active_generation()
        manifest = index.store.manifest(gen)
        meta = manifest.get(doc_id)
        if meta is None:
            raise RagError(f"no article with id {doc_id!r} in the index (it may have been removed)")
        files = _files(meta)
        shared = {
            f for other, m in manifest.items() if other != doc_id for f in _files(m) if f in files
        }
        index.store.delete_articles(gen, [doc_id])
        removed: list[str] = []
        kept: list[str] = []
        for file in files:
            path = Path(file)
            if not path.exists():
                continue
            if _inside(path, uploads_dir(index)) and file not in shared:
                path.unlink()
                removed.append(file)
            else:
                kept.append(file)
        # The other articles of a file that stays: their signatures are made stale, so the
        # next sync parses the file again (and so brings this article back) instead of
        # trusting that nothing in it changed.
        for other, m in manifest.items():
            if other == doc_id:
                continue
            origins = json.loads(str(m.get("origins") or "[]"))
            if any(o[0] in kept for o in origins):
                stale = [[f, k, f"stale:{s}" if f in kept else s] for f, k, s in origins]
                index.store.set_origins(gen, other, stale)
        revision = int(index.store.state().get("revision", 0)) + 1
        index.store.set_state(revision=revision)
    return Deletion(
        doc_id=doc_id,
        title=str(meta.get("title", "")),
        removed_files=tuple(origin_label(f, index) for f in removed),
        kept_files=tuple(origin_label(f, index) for f in kept),
    )
