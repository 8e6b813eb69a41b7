"""Ingest as a sync: a manifest of article content hashes decides what to add, replace or delete.

Every stored article remembers its *origins*: ``[file, record key, file signature]``.
Syncing a folder or file compares what is there now with the origins under it:
new content is embedded, content that changed replaces the old article, and
articles whose every origin is gone are removed. Articles that came from
elsewhere are never touched. A file whose size and mtime did not change is not
even parsed again, so an unchanged corpus embeds nothing; repeating the last sync of an
unchanged corpus does not even open Chroma (``SyncStamp``).

Nothing is lost on the way: a root that does not exist removes nothing, a changed article's
new version is stored before the old one is removed, only one sync runs at a time
(``IngestLock``), and after every sync each stored chunk must be found by its own vector,
else it is stored again (``Index.check``, also ``rag check``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chunking import CHUNKER_VERSION, chunk_article, sentence_spans
from .config import Settings
from .errors import ConfigError, IndexNotReadyError, LoadError, RagError, StoreError
from .files import LockBusy, file_lock, write_atomically
from .shards import Shard
from .store import Store
from .types import Article, Chunk, IngestReport, content_id

if TYPE_CHECKING:
    import numpy as np

    from .models import Embedder

Origin = tuple[str, str, str]  # (file, record key, file signature)


def embedding_text(article: Article, chunk: Chunk) -> str:
    """What is embedded for a chunk: its text with the article's title and outlet as context."""
    context = " · ".join(p for p in (article.title, article.source) if p)
    return f"{context}\n{chunk.text}" if context else chunk.text


def sentence_vectors(embedder: Embedder, texts: Sequence[str]) -> list[np.ndarray]:
    """The vectors of each chunk text's sentences (rows in ``sentence_spans`` order), stored
    with the chunk so that answering never embeds a retrieved passage's sentences. A
    sentence repeated in the overlap of two chunks is embedded once."""
    import numpy as np

    spans = [sentence_spans(t) for t in texts]
    wanted = [t[s:e] for t, sp in zip(texts, spans, strict=True) for s, e in sp]
    unique = list(dict.fromkeys(wanted))
    found = dict(zip(unique, embedder.encode(unique), strict=True))
    return [
        np.stack([found[t[s:e]] for s, e in sp]) if sp else np.zeros((0, 1))
        for t, sp in zip(texts, spans, strict=True)
    ]


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


# Longer articles are skipped: 1M characters is ~1,700 passages, far beyond any news article.
MAX_ARTICLE_CHARS = 1_000_000
MISSING = "no such file or directory"
PathsArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def as_paths(paths: PathsArg | None, default: Path) -> list[Path]:
    """A file or folder, or a list of them, as absolute paths (``default`` when none)."""
    if paths is None:
        return [default.expanduser().resolve()]
    items = [paths] if isinstance(paths, str | os.PathLike) else paths
    if not isinstance(items, Sequence) or not all(isinstance(p, str | os.PathLike) for p in items):
        raise ConfigError(
            f"paths must be a file or folder name, or a list of them, not {paths!r}: "
            f'for example rag.ingest("corpus/") or rag.ingest(["a.txt", "news/"])'
        )
    if not items:
        return [default.expanduser().resolve()]
    return [Path(p).expanduser().resolve() for p in items]


def expand_paths(
    paths: Iterable[Path], max_bytes: float = float("inf")
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to load under ``paths`` (folders recursively, hidden entries skipped) and skips.

    Only regular files are read (a FIFO or a device would block or never end), none larger
    than ``max_bytes``, and every real folder is walked once however many links lead to it.
    """
    from .loaders import supported_suffixes

    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    suffixes = supported_suffixes()
    supported = ", ".join(suffixes)
    for root in paths:
        if not root.exists():
            skipped.append((str(root), MISSING))
            continue
        candidates = sorted(_walk(root)) if root.is_dir() else [root]
        for path in candidates:
            if path.suffix.lower() not in suffixes:
                kind = f"'{path.suffix}'" if path.suffix else "without an extension"
                skipped.append(
                    (str(path), f"unsupported file type {kind} (supported: {supported})")
                )
            elif problem := _unreadable(path, max_bytes):
                skipped.append((str(path), problem))
            else:
                files.append(path)
    return files, skipped


def _unreadable(path: Path, max_bytes: float) -> str | None:
    """Why ``path`` is not read as an article file, or None."""
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}" + (
            " (a broken link)" if path.is_symlink() else ""
        )
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        return f"not a regular file ({kind}): only plain files are read"
    if st.st_size > max_bytes:
        return (
            f"file is {st.st_size / 1024 / 1024:.1f} MB, over the {max_bytes / 1024 / 1024:g} MB "
            f"limit (RAG_MAX_FILE_MB): split it, or raise the limit"
        )
    return None


def _walk(root: Path) -> Iterable[Path]:
    seen: set[tuple[int, int]] = set()  # real folders already walked: links may loop
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
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
    notes: list[tuple[str, str]] = field(default_factory=list)  # stored, with a caveat

    def keep_only(self, shard: Shard | None) -> None:
        """Leave the articles ``shard`` owns (all of them when it is None)."""
        if shard is None:
            return
        self.origins = {d: o for d, o in self.origins.items() if shard.owns(d)}
        self.added = [d for d in self.added if shard.owns(d)]
        self.updated = [d for d in self.updated if shard.owns(d)]
        self.unchanged = [d for d in self.unchanged if shard.owns(d)]


def _owned(manifest: dict[str, dict[str, Any]], shard: Shard | None) -> dict[str, dict[str, Any]]:
    """The part of a manifest that ``shard`` syncs (all of it when it is None)."""
    if shard is None:
        return manifest
    return {d: m for d, m in manifest.items() if shard.owns(d)}


class Index:
    """The article index: Chroma collections for one embedding model and chunker setting."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, store: Store | None = None
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings)
        self._embedder = embedder
        self._ingest_embedder: Any = None  # a RemoteEmbedder once RAG_EMBEDDINGS is used
        self._lease: dict[str, Any] = {}
        self._stamp = SyncStamp(settings.index_dir / STAMP_FILE)

    @property
    def embedder(self) -> Embedder:
        """What embeds questions: the local model, unless RAG_EMBEDDINGS names another model
        (then that one: questions must be embedded by the model that made the vectors)."""
        if self._embedder is None:
            if self._remote_model:
                self._embedder = self.ingest_embedder
            else:
                from .models import get_embedder

                s = self.settings
                self._embedder = get_embedder(s.embed_model, s.batch_size, s.cache_dir)
        return self._embedder

    @property
    def ingest_embedder(self) -> Any:
        """What embeds passages: RAG_EMBEDDINGS when set, else :attr:`embedder`.

        A server declared to run the local model (RAG_EMBEDDINGS_SAME_AS_LOCAL) is checked
        against it before its first vector is used.
        """
        if self._ingest_embedder is None:
            s = self.settings
            if not s.embeddings:
                return self.embedder
            from .embed_remote import RemoteEmbedder, check_same_model

            remote = RemoteEmbedder(s)
            if not self._remote_model:
                check_same_model(remote, self.embedder, self.model_id)
            self._ingest_embedder = remote
        return self._ingest_embedder

    @property
    def _remote_model(self) -> bool:
        """RAG_EMBEDDINGS makes vectors of a model of its own (not declared the local one)."""
        return bool(self.settings.embeddings) and not self.settings.embeddings_same_as_local

    @property
    def model_id(self) -> str:
        """The identity of the model whose vectors this index holds (part of the generation)."""
        if self._remote_model:
            from .embed_remote import model_identity

            return model_identity(self.settings.embeddings)
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
            if state.get("embeddings"):  # made by a RAG_EMBEDDINGS model of its own
                same = f"RAG_EMBEDDINGS={state['embeddings']} with its RAG_EMBEDDINGS_BASE_URL"
            else:
                same = f"RAG_EMBED_MODEL={state.get('model')}"
                same += " without RAG_EMBEDDINGS" if self._remote_model else ""
            raise IndexNotReadyError(
                f"the index at {self.store.location} was built with embedding model "
                f"{state.get('model')!r} (chunks {built}), not {self.model_id!r} "
                f"({s.chunk_size}/{s.chunk_overlap}): run `rag ingest` to rebuild it, "
                f"or set {same}"
            )
        return str(active)

    def get_article(self, doc_id: str) -> Article:
        article = self.store.get_article(self.active_generation(), doc_id)
        if article is None:
            raise RagError(f"no article with id {doc_id!r} in the index (it may have been removed)")
        return article

    def stats(self, *, dates: bool = True) -> dict[str, Any]:
        """What ``rag stats`` shows; without ``dates``, no date facets (which read the whole
        manifest: ~0.4 s at 10k articles) for a caller that needs only the counts."""
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
            "shards": self._shard_status(state),
            **(self._date_facets(active) if dates else {}),
        }

    def _shard_status(self, state: dict[str, Any]) -> dict[str, Any]:
        """The last sharded ingest: N, the shards finished and those recorded as running,
        split into alive and gone (a shard that is gone is run again to finish)."""
        rec = state.get("shards") or {}
        if not rec:
            return {}
        from .shards import running_shards

        running = sorted(rec.get("running") or {})
        alive = running_shards(self.store, state)
        return {
            "count": rec.get("count"),
            "done": list(rec.get("done") or []),
            "running": [k for k in running if any(a.startswith(f"{k} ") for a in alive)],
            "gone": [k for k in running if not any(a.startswith(f"{k} ") for a in alive)],
            "complete": len(rec.get("done") or []) == rec.get("count"),
        }

    def _date_facets(self, active: str | None) -> dict[str, Any]:
        """The span of publication dates and the articles per month (``YYYY-MM``)."""
        days = sorted(
            str(m.get("published"))
            for m in (self.store.manifest(active) if active else {}).values()
            if m.get("published")
        )
        per_month: dict[str, int] = {}
        for day in days:
            per_month[day[:7]] = per_month.get(day[:7], 0) + 1
        return {
            "first_published": days[0] if days else "",
            "last_published": days[-1] if days else "",
            "per_month": per_month,
        }

    # -- syncing ----------------------------------------------------------------------------

    def ingest(
        self, paths: PathsArg | None = None, *, quiet: bool = True, shard: Shard | str | None = None
    ) -> IngestReport:
        """Sync files and folders (default: the corpus folder) into the index.

        ``paths`` is one file or folder (a string or a Path) or a list of them; an
        ``http(s)://`` URL (a feed or an article) or a file listing URLs is fetched
        (``rag.feeds``) and what it gave is synced like a file. ``shard`` (``"2/3"``) syncs
        only the articles of that shard, into a Chroma server that the other shards'
        processes write to at the same time (``rag.shards``).
        """
        from .feeds import FeedReader, merge_reports, split_sources

        urls, rest = split_sources(paths)
        part = None if shard is None else Shard.parse(shard)
        if part is not None:
            if urls:
                raise ConfigError(
                    f"--shard {part} syncs files and folders, not URLs ({urls[0]}): fetch feeds "
                    "and pages with an unsharded `rag ingest URL` or `rag ingest --feeds`"
                )
            if not self.settings.chroma_url:
                raise ConfigError(
                    f"--shard {part} needs a Chroma server that every shard writes to: start "
                    "one with `chroma run --path DIR --host HOST --port PORT` and set "
                    "RAG_CHROMA_URL=http://HOST:PORT in every shard's environment"
                )
        if urls:
            reports = [FeedReader(self).ingest_urls(urls)]
            if rest:
                reports.append(self.ingest(rest, quiet=quiet))
            return merge_reports(reports, [], [], self.store.location)
        roots = as_paths(paths, self.settings.corpus_dir)
        with _INGEST_LOCK:  # threads of one process (UI uploads) take turns
            return self._ingest(roots, quiet, part)

    def _ingest(self, roots: list[Path], quiet: bool, shard: Shard | None = None) -> IngestReport:
        started = time.perf_counter()
        files, skipped = expand_paths(roots, self.settings.max_file_mb * 1024 * 1024)
        missing = tuple(str(r) for r in roots if not r.exists())
        target = self.generation
        if shard is not None:
            what = f"another ingest as shard {shard}"
            with IngestLock(self.store, name=shard.lock_name, kind="shard", what=what):
                return self._sync(roots, files, skipped, missing, started, quiet, shard)
        unchanged = self._stamp.unchanged(roots, files, target, self.store.write_mark())
        if unchanged is not None:
            return IngestReport(
                unchanged=tuple(unchanged),
                skipped=tuple(skipped),
                seconds=time.perf_counter() - started,
                index_dir=self.store.location,
                missing=missing,
            )
        with IngestLock(self.store):
            return self._sync(roots, files, skipped, missing, started, quiet)

    def _sync(
        self,
        roots: list[Path],
        files: list[Path],
        skipped: list[tuple[str, str]],
        missing: tuple[str, ...],
        started: float,
        quiet: bool,
        shard: Shard | None = None,
    ) -> IngestReport:
        from . import shards

        target = self.generation
        state = self.store.state()
        active = state.get("active")
        marker = {"gen": target, "owner": _owner(), "at": time.time()}
        if shard is not None:
            interrupted = shards.begin(self.store, shard, target, marker)
        else:
            shards.refuse_while_running(self.store, state)
            # A marker left behind means that sync was interrupted (or a shard that wrote
            # to this generation was killed): repair before going on.
            sharded = state.get("shards") or {}
            interrupted = (state.get("syncing") or {}).get("gen") == target or (
                sharded.get("gen") == target
                and bool(sharded.get("running") or sharded.get("repair"))
            )
        if interrupted:
            self._repair(target, shard)
        if shard is None:  # a whole sync: what shards recorded no longer matters after it
            self.store.set_state(syncing=marker, shards=None)

        stored = self.store.manifest(target)
        known = stored if active in (None, target) else self.store.manifest(active)
        current, previous = _owned(stored, shard), _owned(known, shard)
        # A root that is not there (an unmounted drive, a renamed folder) removes nothing.
        present = [r for r in roots if str(r) not in missing]
        # After an interruption a file may be only partly stored: parse everything again.
        # A file skipped before reading (too large, not a plain file) keeps its articles.
        protected = {path for path, _ in skipped}
        # Files are planned against every article they held (a shard reads them all), then
        # the plan keeps the articles this shard owns.
        plan = self._plan(present, files, known, not interrupted, protected, shard)
        plan.keep_only(shard)
        plan.skipped[:0] = skipped

        to_embed = [d for d in plan.origins if d not in current]
        # New versions are stored before the old ones are removed: readers always find one.
        embedded = self._embed_articles(target, active, to_embed, plan, quiet)
        for doc in plan.origins:
            if doc in current and set(_origins(current[doc])) != plan.origins[doc]:
                self.store.set_origins(target, doc, sorted(plan.origins[doc]))
        self.store.delete_articles(target, [d for d in current if d not in plan.origins])
        removed_docs = [d for d in previous if d not in plan.origins]
        # An article whose origin now holds new content was updated, not removed.
        removed = [
            d
            for d in removed_docs
            if not any(_key(o) in plan.replaced for o in _origins(previous[d]))
        ]
        checked, lost, unfound = self._verify(target, strict=False, shard=shard)
        if unfound:
            plan.notes.append(
                (
                    self.store.location,
                    f"{len(unfound)} chunks not yet found by their own vector after storing "
                    f"them again (e.g. {unfound[0]}): run `rag check`",
                )
            )

        changed = bool(to_embed or removed_docs or lost)
        switch = {
            "active": target,
            "model": self.model_id,
            "embeddings": self.settings.embeddings if self._remote_model else "",
            "chunk_size": self.settings.chunk_size,
            "chunk_overlap": self.settings.chunk_overlap,
        }
        if shard is not None:
            # The last of the N shards makes a new generation the one searched.
            replaced = shards.finish(self.store, shard, target, changed, lambda: switch)
            active = replaced if replaced is not None else target
        else:
            self.store.set_state(
                **switch,
                syncing=None,
                revision=int(self.store.state().get("revision", 0))
                + (1 if changed or active != target else 0),
                last_sync=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
        if active and active != target:
            self.store.drop(Store.chunks_name(active))
            self.store.drop(Store.articles_name(active))
        prepare = getattr(self._embedder, "prepare_onnx", None)
        if embedded and prepare is not None:
            # torch is loaded now anyway: export for the questions of later processes.
            prepare()
        docs = [d for d in (*plan.added, *plan.updated, *plan.unchanged) if d in plan.origins]
        if len(plan.clean) == len(files) and not missing and shard is None:
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
            missing=missing,
            notes=tuple(plan.notes),
            checked=checked,
            repaired=len(lost),
        )

    def _plan(
        self,
        roots: list[Path],
        files: list[Path],
        previous: dict[str, dict[str, Any]],
        trust_signatures: bool = True,
        protected: set[str] | None = None,
        shard: Shard | None = None,
    ) -> _Plan:
        from .loaders import load_file

        plan = _Plan()
        # (file, key) -> [(doc, signature)]: after an interrupted update both versions are
        # stored, so one origin may name two articles until this sync finishes the update.
        prev_by_key: dict[tuple[str, str], list[tuple[str, str]]] = {}
        prev_by_file: dict[str, list[tuple[Origin, str]]] = {}
        for doc, meta in previous.items():
            for origin in _origins(meta):
                prev_by_key.setdefault(_key(origin), []).append((doc, origin[2]))
                prev_by_file.setdefault(origin[0], []).append((origin, doc))

        seen: dict[tuple[str, str], tuple[str, str]] = {}  # (file, key) -> (doc, signature)
        protected = set(protected or ())  # files that failed (partly): their old origins stay
        for path in files:
            file = str(path)
            try:
                sig = _signature(path)
            except OSError as exc:
                plan.skipped.append((file, f"cannot read: {exc.strerror or exc}"))
                protected.add(file)
                continue
            old = prev_by_file.get(file, [])
            # A shard trusts a file's stored signature only for a file of one article
            # (stored by whichever shard owns it) or when some of its stored articles are
            # this shard's: the other shards' part of a file says nothing about ours.
            ours = shard is None or any(o[1] == "" or shard.owns(doc) for o, doc in old)
            if trust_signatures and old and ours and all(o[2] == sig for o, _ in old):
                for o, doc in old:
                    seen[_key(o)] = (doc, sig)
                plan.clean[file] = sig
                continue
            try:
                loaded = load_file(path)
            except LoadError as exc:
                plan.skipped.append((file, str(exc)))
                protected.add(file)
                continue
            problems = list(loaded.problems)
            articles = []
            for key, article in loaded.articles:
                if len(article.text) > MAX_ARTICLE_CHARS:
                    where = f"{key}: " if key else ""
                    problems.append(
                        f"{where}article is {len(article.text):,} characters, over the "
                        f"{MAX_ARTICLE_CHARS:,} limit: split it into separate articles"
                    )
                else:
                    articles.append((key, article))
            plan.skipped.extend((file, problem) for problem in problems)
            plan.notes.extend((file, note) for note in loaded.notes)
            if problems:
                protected.add(file)
                sig = f"partial:{sig}"  # never matches: the file is parsed (and reported) again
            else:
                plan.clean[file] = sig
            for key, article in articles:
                seen[(file, key)] = (article.doc_id, sig)
                plan.articles.setdefault(article.doc_id, article)

        def in_scope(file: str) -> bool:
            return any(file == str(r) or file.startswith(str(r) + os.sep) for r in roots)

        for (file, key), docs in prev_by_key.items():
            if (file, key) in seen or (in_scope(file) and file not in protected):
                continue
            for doc, old_sig in docs:
                plan.origins.setdefault(doc, set()).add((file, key, old_sig))
        counted: set[str] = set()
        for (file, key), (doc, sig) in seen.items():
            plan.origins.setdefault(doc, set()).add((file, key, sig))
            before = {d for d, _ in prev_by_key.get((file, key), [])}
            if before - {doc}:
                plan.replaced.add((file, key))
            if doc in counted:
                continue
            counted.add(doc)
            if doc in previous:
                plan.unchanged.append(doc)
            elif before:
                plan.updated.append(doc)
            else:
                plan.added.append(doc)
        return plan

    def _embed_articles(
        self, target: str, active: str | None, doc_ids: list[str], plan: _Plan, quiet: bool
    ) -> int:
        if not doc_ids:
            return 0
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
        with tqdm(total=total, disable=quiet, unit="chunk", desc="embedding", leave=False) as bar:
            return self._store_articles(
                target, work, lambda a: sorted(plan.origins[a.doc_id]), bar.update
            )

    def _store_articles(
        self,
        gen: str,
        work: list[tuple[Article, list[Chunk]]],
        origins_of: Any,
        progress: Any = None,
    ) -> int:
        """Embed and store chunks in batches; each article's record follows all its chunks."""
        import numpy as np

        limit = self.settings.batch_size * 16
        done = 0
        pending: list[tuple[Article, list[Chunk], list[Any]]] = []  # chunks stored so far
        pairs: list[tuple[Article, Chunk]] = []
        for n, (article, chunks) in enumerate(work):
            pending.append((article, chunks, []))
            pairs += [(article, c) for c in chunks]
            last = n == len(work) - 1
            while pairs and (len(pairs) >= limit or last):
                batch, pairs = pairs[:limit], pairs[limit:]
                texts = [embedding_text(a, c) for a, c in batch]
                vectors = self.ingest_embedder.encode(texts, progress=progress)
                sentences = sentence_vectors(self.ingest_embedder, [c.text for _, c in batch])
                self.store.put_chunks(gen, batch, vectors, sentences)
                done += len(batch)
                offset = 0
                for entry in pending:  # hand the vectors to their articles, in order
                    need = len(entry[1]) - len(entry[2])
                    take = min(need, len(batch) - offset)
                    entry[2].extend(vectors[offset : offset + take])
                    offset += take
                rows = []
                while pending and len(pending[0][2]) == len(pending[0][1]):
                    article, chunks, vecs = pending.pop(0)
                    dim = vectors.shape[1]
                    mean = np.mean(vecs, axis=0) if vecs else np.ones(dim)
                    mean = mean / (np.linalg.norm(mean) or 1.0)
                    rows.append((article, mean.tolist(), len(chunks), origins_of(article)))
                self.store.put_articles(gen, rows)
        if pending:  # articles without chunks (none in practice): records only
            dim = len(self.ingest_embedder.encode(["x"])[0])
            rows = [
                (a, (np.ones(dim) / np.sqrt(dim)).tolist(), 0, origins_of(a)) for a, _, _ in pending
            ]
            self.store.put_articles(gen, rows)
        return done

    # -- repair -----------------------------------------------------------------------------

    def _repair(self, gen: str, shard: Shard | None = None) -> tuple[int, int]:
        """Make chunks and article records agree: (articles rebuilt, orphan chunks removed).

        An article whose chunks are not all there is chunked and embedded again from its
        stored text; chunks whose article record is missing are removed. A shard repairs
        only its own articles: the other shards' may be half-stored because they are
        being written right now.
        """
        s = self.settings
        manifest = _owned(self.store.manifest(gen), shard)
        chunk_docs = {
            c: d for c, d in self.store.chunk_doc_ids(gen).items() if shard is None or shard.owns(d)
        }
        have: dict[str, set[str]] = {}
        for cid, doc in chunk_docs.items():
            have.setdefault(doc, set()).add(cid)
        orphans = [c for c, d in chunk_docs.items() if d not in manifest]
        work: list[tuple[Article, list[Chunk]]] = []
        for doc, meta in manifest.items():
            if len(have.get(doc, ())) == int(meta.get("n_chunks", -1)):
                continue
            article = self.store.get_article(gen, doc)
            if article is None:
                continue
            chunks = chunk_article(article, s.chunk_size, s.chunk_overlap)
            wanted = {c.chunk_id for c in chunks}
            orphans += sorted(have.get(doc, set()) - wanted)
            work.append((article, chunks))
        self.store.delete_chunks(gen, orphans)
        if work:
            self._store_articles(gen, work, lambda a: _origins(manifest[a.doc_id]))
        return len(work), len(orphans)

    def _verify(
        self, gen: str, strict: bool = True, shard: Shard | None = None
    ) -> tuple[int, list[str], list[str]]:
        """(chunks checked, chunks repaired, chunks still missed): every chunk must be found
        by its own vector; those that are not are embedded and stored again, then checked
        again (a few times: a search index just written can lag behind its records).

        ``strict`` (``rag check``) raises when some are still missed; after a sync they are
        reported instead, so that a lagging search index never fails an ingest that stored
        everything."""
        keep = None if shard is None else shard.owns_chunk  # a shard checks its own chunks
        lost = self.store.unreachable_chunks(gen, keep)
        still: set[str] = set()
        if lost:
            records = self.store.chunk_records(gen, lost)
            for i in range(0, len(records), 1024):
                part = records[i : i + 1024]
                vectors = self.ingest_embedder.encode([embedding_text(a, c) for a, c in part])
                sentences = sentence_vectors(self.ingest_embedder, [c.text for _, c in part])
                self.store.put_chunks(gen, part, vectors, sentences)
            for wait in (0.0, 0.5, 2.0):
                time.sleep(wait)
                still = set(self.store.unreachable_chunks(gen, keep)) & set(lost)
                if not still:
                    break
            if still and strict:
                raise StoreError(
                    f"{len(still)} chunks in {self.store.location} cannot be found by their "
                    f"own vector even after storing them again (e.g. {sorted(still)[0]}): "
                    f"move the index folder aside and run `rag ingest` to rebuild it"
                )
        return self.store.count(gen)[1], lost, sorted(still)

    def check(self, *, repair: bool = True) -> CheckReport:
        """Verify the index: chunks and article records agree, and every chunk is found by
        its own vector. With ``repair`` what is wrong is fixed (``rag check``)."""
        started = time.perf_counter()
        with _INGEST_LOCK, IngestLock(self.store):
            from .shards import refuse_while_running

            refuse_while_running(self.store, self.store.state())
            gen = self.active_generation()
            if not repair:
                return CheckReport(
                    chunks=self.store.count(gen)[1],
                    unreachable=tuple(self.store.unreachable_chunks(gen)),
                    inconsistent=self._inconsistent(gen),
                    seconds=time.perf_counter() - started,
                )
            rebuilt, orphans = self._repair(gen)
            checked, lost, _ = self._verify(gen)
            added = self._add_sentence_vectors(gen)
            if lost or rebuilt or orphans:
                revision = int(self.store.state().get("revision", 0)) + 1
                self.store.set_state(revision=revision)  # readers rebuild their BM25 index
            return CheckReport(
                chunks=checked,
                unreachable=tuple(lost),
                repaired=len(lost),
                rebuilt=rebuilt,
                orphans=orphans,
                sentence_vectors=added,
                seconds=time.perf_counter() - started,
            )

    def _add_sentence_vectors(self, gen: str) -> int:
        """Give the chunks stored without sentence vectors (by a version from before they
        were stored) theirs; the number of chunks given them."""
        todo = self.store.chunks_without_sentence_vectors(gen)
        for i in range(0, len(todo), 1024):
            part = todo[i : i + 1024]
            rows = sentence_vectors(self.ingest_embedder, [text for _, text in part])
            self.store.set_sentence_vectors(gen, [cid for cid, _ in part], rows)
        return len(todo)

    def _inconsistent(self, gen: str) -> int:
        manifest = self.store.manifest(gen)
        counts: dict[str, int] = {}
        for doc in self.store.chunk_doc_ids(gen).values():
            counts[doc] = counts.get(doc, 0) + 1
        bad = [d for d, m in manifest.items() if counts.get(d, 0) != int(m.get("n_chunks", -1))]
        return len(bad) + sum(n for d, n in counts.items() if d not in manifest)


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


@dataclass(frozen=True)
class CheckReport:
    """What ``Index.check`` (``rag check``) found and did."""

    chunks: int = 0  # chunks stored (and, after a repair, all found by their own vector)
    unreachable: tuple[str, ...] = ()  # chunk ids a search by their own vector missed
    repaired: int = 0  # of those, stored again (and found afterwards)
    rebuilt: int = 0  # articles whose chunks were incomplete, chunked again from their text
    orphans: int = 0  # chunks without an article record, removed
    sentence_vectors: int = 0  # chunks stored without their sentences' vectors, given them
    inconsistent: int = 0  # without repair: articles and chunks that do not agree
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing is wrong any more (after a repair) or nothing was wrong (without one)."""
        return self.repaired == len(self.unreachable) and not self.inconsistent

    def summary(self) -> str:
        parts = [f"{self.chunks} chunks checked in {self.seconds:.1f}s"]
        parts.append(f"{len(self.unreachable)} not found by their own vector")
        if self.repaired:
            parts.append(f"{self.repaired} stored again")
        if self.rebuilt:
            parts.append(f"{self.rebuilt} incomplete articles rebuilt")
        if self.orphans:
            parts.append(f"{self.orphans} orphan chunks removed")
        if self.sentence_vectors:
            parts.append(f"{self.sentence_vectors} chunks given their sentence vectors")
        if self.inconsistent:
            parts.append(f"{self.inconsistent} articles or chunks that do not agree")
        return "; ".join(parts)


# One sync at a time per index. The embedded store is guarded by a lock file that the kernel
# holds for the owner and releases when it exits, however it exits. In server mode, where
# other hosts write too, the lock is a collection created atomically on the server, naming
# its owner; a thread renews it while the sync runs (however long one embedding batch takes),
# and a lock whose owner died on this host, or that went unrenewed for its time, is taken over:
# that very collection is removed (a compare-and-set on its id, so a newer lock is never
# touched) and a new one created, which again only one process can do.
LEASE_SECONDS = 90
BRIEF_WAIT = 60.0  # longest wait for shards recording their start or end
LOCK_FILE = "ingest.lock"
LOCK_COLLECTION = "rag-ingest-lock"
_INGEST_LOCK = threading.RLock()


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class IngestLock:
    """Held while a sync (or a repair) writes: the others are refused with a clear message.

    In server mode there are more locks of this kind (``rag.shards``): ``name`` is the lock's
    collection, ``kind`` what it is held for (a shard holds the main lock for a moment, of
    kind ``shards.BRIEF``, to record its start or end: others wait that moment out), and
    ``what`` how a refusal names the holder.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str = LOCK_COLLECTION,
        kind: str = "sync",
        what: str = "another ingest",
    ) -> None:
        self.store = store
        self.name = name
        self.kind = kind
        self.what = what
        self._stop = threading.Event()
        self._exit: contextlib.ExitStack | None = None
        self._lock_id = ""

    def _busy(self, owner: str, seen: str = "") -> RagError:
        who = f" ({owner}{seen})" if owner else ""
        return RagError(
            f"{self.what} into {self.store.location} is running{who}: wait for it to "
            f"finish and run yours again"
        )

    def __enter__(self) -> IngestLock:
        stack = contextlib.ExitStack()
        if self.store.settings.chroma_url:
            self._take_lease()
            stack.callback(self._release_lease)
        else:
            path = self.store.settings.index_dir / LOCK_FILE
            try:
                stack.enter_context(file_lock(path, wait=False, owner=_owner()))
            except LockBusy as busy:
                raise self._busy(busy.owner) from None
        self._exit = stack
        return self

    def __exit__(self, *exc: object) -> None:
        if self._exit is not None:
            self._exit.close()
            self._exit = None

    def lease(self) -> dict[str, Any]:
        return {"owner": _owner(), "at": time.time(), "ttl": LEASE_SECONDS, "kind": self.kind}

    def _take_lease(self) -> None:
        from .shards import BRIEF

        brief_until = time.monotonic() + BRIEF_WAIT
        attempts = 0
        while attempts < 3:
            lock_id = self.store.create_lock(self.name, self.lease())
            if lock_id is not None:
                self._lock_id = lock_id
                self._heartbeat = threading.Thread(target=self._renew, daemon=True)
                self._heartbeat.start()
                return
            found = self.store.read_lock(self.name)
            if found is None:
                attempts += 1
                continue  # released meanwhile: try again
            stale_id, held = found
            if _lease_alive(held):
                if held.get("kind") == BRIEF and time.monotonic() < brief_until:
                    time.sleep(0.1)  # a shard recording its start or end: a moment
                    continue
                seen = f", last seen {time.time() - float(held.get('at', 0)):.0f}s ago"
                raise self._busy(str(held.get("owner", "")), seen)
            # Its owner is gone: remove that very lock (never a newer one), then create ours;
            # of several processes doing this at once, the create lets exactly one win.
            self.store.remove_lock(self.name, stale_id)
            attempts += 1
        raise self._busy("")

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 6):
            with contextlib.suppress(RagError):  # a server outage fails the sync itself
                if not self.store.renew_lock(self.name, self._lock_id, self.lease()):
                    return  # taken over (we were silent too long): the sync's writes decide

    def _release_lease(self) -> None:
        self._stop.set()
        with contextlib.suppress(RagError):
            self.store.remove_lock(self.name, self._lock_id)


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
        return True  # alive on this host, however long since its last renewal
    ttl = float(lease.get("ttl", LEASE_SECONDS))
    return time.time() - float(lease.get("at", 0)) < ttl


def _origins(meta: dict[str, Any]) -> list[Origin]:
    import json

    raw = meta.get("origins") or "[]"
    return [(str(f), str(k), str(s)) for f, k, s in json.loads(str(raw))]


def _key(origin: Origin) -> tuple[str, str]:
    return origin[0], origin[1]
