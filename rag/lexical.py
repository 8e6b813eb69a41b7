"""The lexical (BM25) side of retrieval, derived from the chunks stored in Chroma.

Chroma is the source of truth; this index is rebuilt from it whenever the shared
state's revision changes (another process may have ingested), and cached on disk
so a new process loads it instead of rebuilding it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import Store, date_of_num
from .text import MONTHS
from .types import doc_id_of

if TYPE_CHECKING:
    import numpy as np


def lexical_text(text: str, meta: dict[str, Any]) -> str:
    """What BM25 sees for a chunk: its text plus title, outlet and publication month."""
    parts = [str(meta.get("title", "")), str(meta.get("source", "")), text]
    published = str(meta.get("published", ""))
    if len(published) >= 7:
        month = int(published[5:7])
        parts.append(f"{MONTHS[month - 1]} {published[:4]}")
    return "\n".join(p for p in parts if p)


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@dataclass
class _Built:
    key: str
    ids: list[str]
    sources: np.ndarray  # object array of outlet names, for filter masks
    published: np.ndarray  # int YYYYMMDD per chunk
    bm25: Any

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Each chunk id's row in the arrays."""
        return {cid: i for i, cid in enumerate(self.ids)}

    @functools.cached_property
    def outlets(self) -> list[str]:
        """Every outlet name, sorted (asked for on every question that names outlets)."""
        return sorted({s for s in self.sources.tolist() if s})


class LexicalIndex:
    """BM25 over every chunk of the active generation."""

    def __init__(self, store: Store, cache_dir: Path, check_every: float = 2.0) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.check_every = check_every
        self._built: _Built | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._stem = _stemmer()

    def invalidate(self) -> None:
        """Re-check the shared revision on the next search (this process just wrote)."""
        with self._lock:
            self._checked = 0.0

    def _current(self, gen: str) -> _Built:
        with self._lock:
            now = time.monotonic()
            if self._built and now - self._checked < self.check_every:
                return self._built
            state = self.store.state()
            key = f"{gen}-{state.get('revision', 0)}"
            self._checked = now
            if self._built is None or self._built.key != key:
                self._built = self._load(key) or self._build(gen, key)
            return self._built

    def _build(self, gen: str, key: str) -> _Built:
        import bm25s
        import numpy as np

        ids: list[str] = []
        texts: list[str] = []
        sources: list[str] = []
        published: list[int] = []
        for page_ids, docs, metas in self.store.iter_chunks(gen):
            for cid, doc, meta in zip(page_ids, docs, metas, strict=True):
                ids.append(cid)
                texts.append(lexical_text(doc, meta))
                sources.append(str(meta.get("source", "")))
                published.append(int(meta.get("published_num", 0) or 0))
        bm25 = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, show_progress=False)
            bm25.index(tokens, show_progress=False)
        built = _Built(key, ids, np.array(sources, dtype=object), np.array(published), bm25)
        if texts:
            self._save(built)
        return built

    def _save(self, built: _Built) -> None:
        import numpy as np

        folder = self.cache_dir / built.key
        tmp = self.cache_dir / f".{built.key}.tmp"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            built.bm25.save(str(tmp), show_progress=False)
            (tmp / "chunks.json").write_text(
                json.dumps({"ids": built.ids, "sources": built.sources.tolist()})
            )
            np.save(tmp / "published.npy", built.published)
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
            for old in self.cache_dir.iterdir():
                if old.name != built.key and not old.name.startswith("."):
                    shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a cache: failing to write it is harmless

    def _load(self, key: str) -> _Built | None:
        import bm25s
        import numpy as np

        folder = self.cache_dir / key
        try:
            meta = json.loads((folder / "chunks.json").read_text())
            bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
            published = np.load(folder / "published.npy")
        except (OSError, ValueError, KeyError):
            return None
        return _Built(
            key, list(meta["ids"]), np.array(meta["sources"], dtype=object), published, bm25
        )

    def search(
        self,
        gen: str,
        query: str,
        k: int,
        sources: list[str] | None = None,
        since: int = 0,
        until: int = 0,
        doc_ids: list[str] | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) of the best ``k`` chunks matching the filters."""
        import bm25s
        import numpy as np

        built = self._current(gen)
        if not built.ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stem, show_progress=False)
        if not any(len(t) for t in tokens.ids):
            return []
        mask = None
        if sources or since or until or doc_ids:
            keep = np.ones(len(built.ids), dtype=bool)
            if doc_ids:
                wanted = set(doc_ids)
                keep &= np.array([doc_id_of(cid) in wanted for cid in built.ids])
            if sources:
                keep &= np.isin(built.sources, np.array(sources, dtype=object))
            if since:
                keep &= built.published >= since
            if until:
                keep &= built.published <= until
            mask = keep.astype(np.float32)
        k = min(k, len(built.ids))
        docs, scores = built.bm25.retrieve(
            tokens, k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [
            (built.ids[int(i)], float(s))
            for i, s in zip(docs[0], scores[0], strict=True)
            if float(s) > 0
        ]

    def published(self, gen: str, chunk_ids: Sequence[str]) -> dict[str, dt.date | None]:
        """The publication date of each chunk (None: undated, or not in the index yet)."""
        built = self._current(gen)
        out: dict[str, dt.date | None] = {}
        for cid in chunk_ids:
            at = built.position.get(cid)
            num = int(built.published[at]) if at is not None else 0
            out[cid] = date_of_num(num)
        return out

    def sources(self, gen: str) -> list[str]:
        """Every outlet name in the index."""
        return list(self._current(gen).outlets)
