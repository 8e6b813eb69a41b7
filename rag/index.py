"""Ingest as a sync: a manifest of article content hashes decides what to add, replace or delete.

Every stored article remembers its *origins*: ``[file, record key, file signature]``.
Syncing a folder or file compares what is there now with the origins under it:
new content is embedded, content that changed replaces the old article, and
articles whose every origin is gone are removed. Articles that came from
elsewhere are never touched. A file whose size and mtime did not change is not
even parsed again, so an unchanged corpus embeds nothing; repeating the last sync of an
unchanged corpus does not even open Chroma (``SyncStamp``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunking import CHUNKER_VERSION, chunk_article
from .config import Settings
from .errors import IndexNotReadyError, LoadError, RagError
from .files import write_atomically
from .store import Store
from .types import Article, Chunk, IngestReport, content_id

if TYPE_CHECKING:
    from .models import Embedder

Origin = tuple[str, str, str]  # (file, record key, file signature)


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What is embedded for a chunk: its text with the article's title and outlet as context."""
    context = " · ".join(p for p in (article.title, article.source) if p)
    return f"{context}\n{chunk.text}" if context else chunk.text


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to load under ``paths`` (folders recursively, hidden entries skipped) and skips."""
    from .loaders import SUPPORTED_SUFFIXES

    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    supported = ", ".join(SUPPORTED_SUFFIXES)
    for root in paths:
        if not root.exists():
            skipped.append((str(root), "no such file or directory"))
            continue
        candidates = [root] if root.is_file() else sorted(_walk(root))
        for path in candidates:
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                kind = f"'{path.suffix}'" if path.suffix else "without an extension"
                skipped.append(
                    (str(path), f"unsupported file type {kind} (supported: {supported})")
                )
    return files, skipped


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name


@dataclass
class _Plan:
    """What one sync will do, worked out before anything is written."""

    origins: dict[str, set[Origin]] = field(default_factory=dict)  # final doc_id -> origins
    articles: dict[str, Article] = field(default_factory=dict)  # freshly loaded content
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    replaced: set[tuple[str, str]] = field(default_factory=set)  # origins whose content changed
    clean: dict[str, str] = field(default_factory=dict)  # file -> signature, read without problems


class Index:
    """The article index: Chroma collections for one embedding model and chunker setting."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, store: Store | None = None
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self._embedder = embedder
        self._lease: dict[str, Any] = {}
        self._stamp = SyncStamp(settings.index_dir / STAMP_FILE)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from .models import get_embedder

            s = self.settings
            self._embedder = get_embedder(s.embed_model, s.batch_size, s.cache_dir)
        return self._embedder

    @property
    def model_id(self) -> str:
        from .models import EMBEDDER_ALIASES, EMBEDDERS, resolve_embedder

        name = EMBEDDER_ALIASES.get(self.settings.embed_model, self.settings.embed_model)
        return name if name in EMBEDDERS else str(resolve_embedder(name))

    @property
    def generation(self) -> str:
        """Collections are per model and chunker setting, so vectors of two models never mix."""
        s = self.settings
        return content_id(self.model_id, CHUNKER_VERSION, str(s.chunk_size), str(s.chunk_overlap))[
            :10
        ]

    # -- reading ----------------------------------------------------------------------------

    def active_generation(self) -> str:
        """The generation to search; raises when nothing usable is indexed."""
        state = self.store.state()
        active = state.get("active")
        if not active:
            raise IndexNotReadyError(
                f"no articles indexed yet at {self.store.location} — run `rag ingest` "
                f"(or `rag ingest PATH` for your own files)"
            )
        if active != self.generation:
            s = self.settings
            built = f"{state.get('chunk_size')}/{state.get('chunk_overlap')}"
            raise IndexNotReadyError(
                f"the index at {self.store.location} was built with embedding model "
                f"{state.get('model')!r} (chunks {built}), not {self.model_id!r} "
                f"({s.chunk_size}/{s.chunk_overlap}): run `rag ingest` to rebuild it, "
                f"or set RAG_EMBED_MODEL={state.get('model')}"
            )
        return str(active)

    def get_article(self, doc_id: str) -> Article:
        article = self.store.get_article(self.active_generation(), doc_id)
        if article is None:
            raise RagError(f"no article with id {doc_id!r} in the index (it may have been removed)")
        return article

    def stats(self) -> dict[str, Any]:
        state = self.store.state()
        active = state.get("active")
        articles, chunks = self.store.count(active) if active else (0, 0)
        return {
            "articles": articles,
            "chunks": chunks,
            "index": self.store.location,
            "embedding_model": state.get("model", self.model_id),
            "last_sync": state.get("last_sync", ""),
            "revision": state.get("revision", 0),
        }

    # -- syncing ----------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[str | Path] | None = None, *, quiet: bool = True
    ) -> IngestReport:
        """Sync files and folders (default: the corpus folder) into the index."""
        with _INGEST_LOCK:  # threads of one process (UI uploads) take turns
            return self._ingest(paths, quiet)

    def _ingest(self, paths: Sequence[str | Path] | None, quiet: bool) -> IngestReport:
        started = time.perf_counter()
        roots = [Path(p).expanduser().resolve() for p in (paths or [self.settings.corpus_dir])]
        files, skipped = expand_paths(roots)
        target = self.generation
        unchanged = self._stamp.unchanged(roots, files, target, self.store.write_mark())
        if unchanged is not None:
            return IngestReport(
                unchanged=tuple(unchanged),
                skipped=tuple(skipped),
                seconds=time.perf_counter() - started,
                index_dir=self.store.location,
            )
        state = self.store.state()
        active = state.get("active")
        lease = state.get("syncing") or {}
        if _lease_alive(lease):
            raise RagError(
                f"another ingest into {self.store.location} is running ({lease['owner']}, "
                f"last seen {time.time() - float(lease['at']):.0f}s ago): wait for it to "
                f"finish; a killed one is taken over {LEASE_SECONDS}s after it was last seen"
            )
        # A lease left behind means that sync was interrupted: repair before going on.
        interrupted = lease.get("gen") == target
        if interrupted:
            self._repair(target)
        self._lease = {"gen": target, "owner": _OWNER, "at": time.time()}
        self.store.set_state(syncing=self._lease)

        current = self.store.manifest(target)
        previous = current if active in (None, target) else self.store.manifest(active)
        # After an interruption a file may be only partly stored: parse everything again.
        plan = self._plan(roots, files, previous, trust_signatures=not interrupted)
        plan.skipped[:0] = skipped

        removed_docs = [d for d in previous if d not in plan.origins]
        # An article whose origin now holds new content was updated, not removed.
        removed = [
            d
            for d in removed_docs
            if not any(_key(o) in plan.replaced for o in _origins(previous[d]))
        ]

        self.store.delete_articles(target, [d for d in current if d not in plan.origins])
        to_embed = [d for d in plan.origins if d not in current]
        embedded = self._embed_articles(target, active, to_embed, plan, quiet)
        for doc in plan.origins:
            if doc in current and set(_origins(current[doc])) != plan.origins[doc]:
                self.store.set_origins(target, doc, sorted(plan.origins[doc]))

        changed = bool(to_embed or removed_docs or (active != target))
        self.store.set_state(
            active=target,
            model=self.model_id,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            syncing=None,
            revision=int(self.store.state().get("revision", 0)) + (1 if changed else 0),
            last_sync=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        if active and active != target:
            self.store.drop(Store.chunks_name(active))
            self.store.drop(Store.articles_name(active))
        if embedded and self._embedder is not None:
            # torch is loaded now anyway: export for the questions of later processes.
            self._embedder.prepare_onnx()
        docs = [d for d in (*plan.added, *plan.updated, *plan.unchanged) if d in plan.origins]
        if len(plan.clean) == len(files):
            self._stamp.record(roots, plan.clean, target, self.store.write_mark(), docs)
        return IngestReport(
            added=tuple(plan.added),
            updated=tuple(d for d in plan.updated if d in plan.origins),
            removed=tuple(removed),
            unchanged=tuple(plan.unchanged),
            skipped=tuple(plan.skipped),
            embedded=embedded,
            seconds=time.perf_counter() - started,
            index_dir=self.store.location,
        )

    def _plan(
        self,
        roots: list[Path],
        files: list[Path],
        previous: dict[str, dict[str, Any]],
        trust_signatures: bool = True,
    ) -> _Plan:
        from .loaders import load_file

        plan = _Plan()
        prev_by_key: dict[tuple[str, str], str] = {}
        prev_by_file: dict[str, list[Origin]] = {}
        for doc, meta in previous.items():
            for origin in _origins(meta):
                prev_by_key[_key(origin)] = doc
                prev_by_file.setdefault(origin[0], []).append(origin)

        seen: dict[tuple[str, str], tuple[str, str]] = {}  # (file, key) -> (doc, signature)
        protected: set[str] = set()  # files that failed (partly): their old origins stay
        for path in files:
            file = str(path)
            try:
                sig = _signature(path)
            except OSError as exc:
                plan.skipped.append((file, f"cannot read: {exc.strerror or exc}"))
                protected.add(file)
                continue
            old = prev_by_file.get(file, [])
            if trust_signatures and old and all(o[2] == sig for o in old):
                for o in old:
                    seen[_key(o)] = (prev_by_key[_key(o)], sig)
                plan.clean[file] = sig
                continue
            try:
                loaded = load_file(path)
            except LoadError as exc:
                plan.skipped.append((file, str(exc)))
                protected.add(file)
                continue
            for problem in loaded.problems:
                plan.skipped.append((file, problem))
            if loaded.problems:
                protected.add(file)
                sig = f"partial:{sig}"  # never matches: the file is parsed (and reported) again
            else:
                plan.clean[file] = sig
            for key, article in loaded.articles:
                seen[(file, key)] = (article.doc_id, sig)
                plan.articles.setdefault(article.doc_id, article)

        def in_scope(file: str) -> bool:
            return any(file == str(r) or file.startswith(str(r) + os.sep) for r in roots)

        for (file, key), doc in prev_by_key.items():
            if (file, key) in seen or (in_scope(file) and file not in protected):
                continue
            old_sig = next(o[2] for o in prev_by_file[file] if o[1] == key)
            plan.origins.setdefault(doc, set()).add((file, key, old_sig))
        counted: set[str] = set()
        for (file, key), (doc, sig) in seen.items():
            plan.origins.setdefault(doc, set()).add((file, key, sig))
            before = prev_by_key.get((file, key))
            if before is not None and before != doc:
                plan.replaced.add((file, key))
            if doc in counted:
                continue
            counted.add(doc)
            if before is not None and before != doc and doc not in previous:
                plan.updated.append(doc)
            elif doc in previous:
                plan.unchanged.append(doc)
            else:
                plan.added.append(doc)
        return plan

    def _embed_articles(
        self, target: str, active: str | None, doc_ids: list[str], plan: _Plan, quiet: bool
    ) -> int:
        if not doc_ids:
            return 0
        import numpy as np
        from tqdm import tqdm

        s = self.settings
        work: list[tuple[Article, list[Chunk]]] = []
        for doc in doc_ids:
            article = plan.articles.get(doc)
            if article is None and active and active != target:
                # Rebuilding for a new model: the text comes from the old generation.
                article = self.store.get_article(active, doc)
            if article is None:
                plan.origins.pop(doc, None)
                continue
            work.append((article, chunk_article(article, s.chunk_size, s.chunk_overlap)))

        total = sum(len(chunks) for _, chunks in work)
        done = 0
        with tqdm(total=total, disable=quiet, unit="chunk", desc="embedding", leave=False) as bar:
            batch: list[tuple[Article, list[Chunk]]] = []
            size = 0
            for item in [*work, None]:
                if item is not None:
                    batch.append(item)
                    size += len(item[1])
                if batch and (item is None or size >= s.batch_size * 16):
                    texts = [embedding_text(a, c) for a, cs in batch for c in cs]
                    vectors = self.embedder.encode(texts, progress=bar.update)
                    self.store.put_chunks(target, [(a, c) for a, cs in batch for c in cs], vectors)
                    rows = []
                    offset = 0
                    for article, chunks in batch:
                        vecs = vectors[offset : offset + len(chunks)]
                        offset += len(chunks)
                        mean = vecs.mean(axis=0) if len(chunks) else np.ones(vectors.shape[1])
                        mean = mean / (np.linalg.norm(mean) or 1.0)
                        origins = sorted(plan.origins[article.doc_id])
                        rows.append((article, mean.tolist(), len(chunks), origins))
                    self.store.put_articles(target, rows)
                    self._lease["at"] = time.time()  # heartbeat: this sync is alive
                    self.store.set_state(syncing=self._lease)
                    done += len(texts)
                    batch, size = [], 0
        return done

    def _repair(self, gen: str) -> None:
        """After an interrupted sync: drop chunks whose article record is missing or incomplete."""
        manifest = self.store.manifest(gen)
        chunk_docs = self.store.chunk_doc_ids(gen)
        counts: dict[str, int] = {}
        for doc in chunk_docs.values():
            counts[doc] = counts.get(doc, 0) + 1
        broken = [d for d, m in manifest.items() if counts.get(d, 0) != int(m.get("n_chunks", -1))]
        self.store.delete_articles(gen, broken)
        orphans = [c for c, d in chunk_docs.items() if d not in manifest or d in broken]
        self.store.delete_chunks(gen, orphans)


STAMP_FILE = "sync-stamp.json"


class SyncStamp:
    """What the last complete sync saw, so that repeating it can skip Chroma entirely.

    It records the synced roots, every file's signature (size and mtime) and the store's
    write mark after the sync. When all of them are the same again, nothing in the files or
    the store changed since, so the sync would change nothing: it is answered from here in
    a fraction of a second instead of importing chromadb and reading the whole manifest.
    Any write to the store (by any process) changes the mark, and any other change makes
    the full sync run as before. Server mode has no mark and always runs the full sync.
    """

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path

    def unchanged(
        self, roots: list[Path], files: list[Path], gen: str, mark: str | None
    ) -> list[str] | None:
        """The articles a sync of ``roots`` would find unchanged, or None: run the sync."""
        import json

        if mark is None:
            return None
        try:
            stamp = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stamp, dict) or (
            stamp.get("version"),
            stamp.get("gen"),
            stamp.get("mark"),
            stamp.get("roots"),
        ) != (self.VERSION, gen, mark, [str(r) for r in roots]):
            return None
        signatures = stamp.get("files")
        docs = stamp.get("docs")
        if not isinstance(signatures, dict) or not isinstance(docs, list):
            return None
        if len(signatures) != len(files):
            return None
        for path in files:
            try:
                if signatures.get(str(path)) != _signature(path):
                    return None
            except OSError:
                return None
        return [str(d) for d in docs]

    def record(
        self,
        roots: list[Path],
        signatures: dict[str, str],
        gen: str,
        mark: str | None,
        docs: list[str],
    ) -> None:
        import json

        if mark is None:
            return
        stamp = {
            "version": self.VERSION,
            "gen": gen,
            "mark": mark,
            "roots": [str(r) for r in roots],
            "files": signatures,
            "docs": docs,
        }
        with contextlib.suppress(OSError):  # only an optimisation: the next sync runs in full
            write_atomically(self.path, json.dumps(stamp).encode())


# One sync at a time per index: a lease in the shared state names its owner and is
# renewed after every batch, so another process (or host, in server mode) waits for it;
# a lease whose owner died on this host, or that was not renewed in time, is taken over.
LEASE_SECONDS = 90
_OWNER = f"{socket.gethostname()}:{os.getpid()}"
_INGEST_LOCK = threading.Lock()


def _lease_alive(lease: dict[str, Any]) -> bool:
    if not isinstance(lease, dict) or not lease.get("owner"):
        return False
    host, _, pid = str(lease["owner"]).rpartition(":")
    if host == socket.gethostname():
        if pid == str(os.getpid()):
            return False  # this process: an earlier sync of ours that failed
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
    return time.time() - float(lease.get("at", 0)) < LEASE_SECONDS


def _origins(meta: dict[str, Any]) -> list[Origin]:
    import json

    raw = meta.get("origins") or "[]"
    return [(str(f), str(k), str(s)) for f, k, s in json.loads(str(raw))]


def _key(origin: Origin) -> tuple[str, str]:
    return origin[0], origin[1]
