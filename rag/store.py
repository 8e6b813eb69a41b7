"""The only module that talks to chromadb (embedded on disk, or a server).

Layout inside Chroma, per *generation* (one embedding model + chunker setting):

- ``rag-<gen>-chunks``: one record per chunk: text, vector, metadata (doc id,
  title, source, published ISO date and ``published_num`` YYYYMMDD, url, start, end,
  and ``sentences``: the vectors of its sentences, packed by ``pack_vectors``).
- ``rag-<gen>-articles``: one record per article, the manifest: full text,
  metadata (title, ..., ``origins`` JSON, ``n_chunks``), vector = mean of its chunks.
- ``rag-state``: one record holding the active generation, revision and last sync.

An article record is written only after all its chunks, and deleted before them,
so an interrupted sync leaves at worst orphan chunks, which the next sync removes.

In the embedded store each process keeps Chroma's vector index in memory as it was when
the process opened it; a write by another process (seen through ``WRITES_FILE``) makes
the next call open the store afresh, so a running UI never searches a stale index.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from .config import Settings
from .errors import StoreError
from .files import file_lock, write_atomically
from .types import Article, Chunk, Passage, doc_id_of

if TYPE_CHECKING:
    import numpy as np

STATE_COLLECTION = "rag-state"
SENTENCES_FIELD = "sentences"  # chunk metadata: its sentences' vectors
_PAGE = 2000
_WRITE_BATCH = 1000
# Backoff between attempts when the Chroma server cannot be reached; together with the
# budget this bounds the wait to a few seconds before the user is told what to do.
_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)
_RETRY_BUDGET = 4.0
_CONNECT_TIMEOUT = 3.0
_READ_TIMEOUT = 120.0  # large upserts on a busy server can take a while
_UNAVAILABLE = ("502 bad gateway", "503 service unavailable", "504 gateway timeout")
# What SQLite says about a database file that is not (or no longer) a whole database.
_DAMAGED = ("file is not a database", "malformed", "no such table", "not a database")
_LOW_SPACE = 8 * 1024 * 1024  # bytes free under which a failed write is put down to a full disk
# In the embedded store every write through this module first and last replaces this
# file's token, so a sync can tell without opening Chroma whether anything was written
# since it last looked (see ``Store.write_mark``).
WRITES_FILE = "store-writes"
# Held while a process creates or opens the embedded store, or creates a collection in it:
# Chroma's first-open migrations and collection creation are not safe to race.
OPEN_LOCK_FILE = "open.lock"
_CHECK_BATCH = 500  # chunks per reachability query in ``Store.unreachable_chunks``
# Collections up to this size are also searched whole (one query returning every chunk).
_WHOLE_QUERY_MAX = 200_000
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _writes(method: F) -> F:
    """Mark the local store as written before and after the write (see ``WRITES_FILE``).

    Before: a write that fails halfway still invalidates what was known of the store.
    After: a reader that took the mark while the write was running does not keep it.
    """

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        self._mark_written()
        try:
            return method(self, *args, **kwargs)
        finally:
            self._mark_written()

    return wrapper  # type: ignore[return-value]


def published_num(date: dt.date | None) -> int:
    """A date as YYYYMMDD, usable in Chroma range filters; 0 when unknown."""
    return date.year * 10000 + date.month * 100 + date.day if date else 0


def date_of_num(num: int) -> dt.date | None:
    """The date of a :func:`published_num` (None for 0 or anything that is not a date)."""
    try:
        return dt.date(num // 10000, num // 100 % 100, num % 100) if num else None
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def article_metadata(article: Article) -> dict[str, Any]:
    return {
        "doc_id": article.doc_id,
        "title": article.title,
        "source": article.source,
        "published": article.published.isoformat() if article.published else "",
        "published_num": published_num(article.published),
        "url": article.url,
        "author": article.author,
    }


def article_from(doc_id: str, text: str, meta: dict[str, Any]) -> Article:
    return Article(
        doc_id=doc_id,
        text=text,
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published=_date(meta.get("published")),
        url=str(meta.get("url", "")),
        author=str(meta.get("author", "")),
    )


def pack_vectors(vectors: np.ndarray) -> str:
    """Rows of unit vectors as text for a metadata field: ``"<dim>:"`` and base64 of float16
    (cosines change by under 0.001; a sentence costs 4/3 × 2 bytes per dimension)."""
    import numpy as np

    data = np.ascontiguousarray(vectors, dtype=np.float16).tobytes()
    return f"{vectors.shape[1]}:{base64.b64encode(data).decode('ascii')}"


def unpack_vectors(text: Any) -> np.ndarray | None:
    """The float32 rows of :func:`pack_vectors`' text; None for anything else."""
    import numpy as np

    dim, _, data = str(text or "").partition(":")
    if not dim.isdigit() or not data or int(dim) == 0:
        return None
    try:
        flat = np.frombuffer(base64.b64decode(data, validate=True), dtype=np.float16)
    except ValueError:
        return None
    if flat.size % int(dim):
        return None
    return flat.astype(np.float32).reshape(-1, int(dim))


def passage_from(chunk_id: str, text: str, meta: dict[str, Any], score: float) -> Passage:
    return Passage(
        text=text,
        score=float(score),
        doc_id=str(meta["doc_id"]),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published=_date(meta.get("published")),
        url=str(meta.get("url", "")),
        start=int(meta["start"]),
        end=int(meta["end"]),
        chunk_id=chunk_id,
        sentence_vectors=unpack_vectors(meta.get(SENTENCES_FIELD)),
    )


class Store:
    """Chroma, embedded under ``settings.index_dir`` or at ``settings.chroma_url``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._lock = threading.RLock()  # UI threads share one store
        self._seen: str | None = None  # the write mark the open client reflects
        # The state record as of a write mark: unchanged until something is written.
        self._state_seen: tuple[str, dict[str, Any]] | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir / "chroma")

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._call(self._connect)
            return self._client

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise StoreError(f"RAG_CHROMA_URL={url!r} is not a URL like http://127.0.0.1:8000")
            # Creating the client already asks the server for its tenant, so a server that
            # is down fails here, inside ``_call``, and is retried like any other request.
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
            _bound_timeouts(client)
            client.heartbeat()
            return client
        path = self.settings.index_dir / "chroma"
        database = path / "chroma.sqlite3"
        path.mkdir(parents=True, exist_ok=True)
        with self._open_lock():
            if database.is_file() and database.stat().st_size == 0:
                raise StoreError(_damaged(self.settings.index_dir, f"{database} is empty"))
            self._seen = self.write_mark()  # taken first: a write after it reopens the store
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)

    def _open_lock(self) -> Any:
        if self.settings.chroma_url:
            return contextlib.nullcontext()
        return file_lock(self.settings.index_dir / OPEN_LOCK_FILE)

    def _fresh(self) -> None:
        """Open the embedded store afresh when another process wrote to it since we opened it.

        Chroma keeps the vector index in memory: without this, chunks another process added
        are unknown to this one ("Error finding id") and removed ones are still found.
        """
        if self.settings.chroma_url or self._client is None or self.write_mark() == self._seen:
            return
        with self._lock:
            if self._client is None or self.write_mark() == self._seen:
                return
            from chromadb.api.shared_system_client import SharedSystemClient

            # Chroma shares one client per path and process; forget it (without stopping it:
            # other threads may still be reading through it) so that the next one is new.
            ident = str(self.settings.index_dir / "chroma")
            SharedSystemClient._identifier_to_system.pop(ident, None)
            SharedSystemClient._identifier_to_refcount.pop(ident, None)
            self._disconnect()

    def _mark_written(self) -> None:
        if self.settings.chroma_url:
            return
        path = self.settings.index_dir / WRITES_FILE
        try:
            write_atomically(path, uuid.uuid4().hex.encode())
        except OSError as exc:
            raise StoreError(
                f"cannot write {path} ({exc.strerror or exc}): the index folder "
                f"{self.settings.index_dir} must be writable to change the index"
            ) from exc
        self._seen = self.write_mark()  # our own write: nothing to reopen for

    def write_mark(self) -> str | None:
        """Identifies the embedded store's contents as of its last write, without chromadb.

        The token of the last write and the identity of Chroma's database file (a store
        restored from a backup or rebuilt is a new file). None in server mode, where other
        hosts write too, and for a store that was never written through this module.
        """
        if self.settings.chroma_url:
            return None
        try:
            raw = (self.settings.index_dir / WRITES_FILE).read_bytes()
            st = (Path(self.location) / "chroma.sqlite3").stat()
        except OSError:
            return None
        token = raw.decode("utf-8", "replace").strip()  # damaged bytes are just another token
        return f"{token}:{st.st_dev}:{st.st_ino}" if token else None

    def _disconnect(self) -> None:
        """Forget the client and collection handles so the next call connects afresh.

        A restarted server may hand out new connections (and, with another ``--path``,
        new collection ids), so nothing obtained from the old one is reused.
        """
        self._client = None
        self._collections = {}

    def _call(self, fn: Callable[[], T], retries: int = len(_RETRY_DELAYS)) -> T:
        """Run a Chroma call; a server that is down is retried with backoff, then reported.

        Retries stop after ``retries`` attempts or once ``_RETRY_BUDGET`` seconds have
        passed, whichever comes first, so a dead server is reported in seconds.
        """
        started = time.monotonic()
        for attempt in range(retries + 1):
            try:
                return fn()
            except StoreError:
                raise
            except Exception as exc:  # chromadb raises many types; all mean the same to users
                if not (self.settings.chroma_url and _is_connection_error(exc)):
                    raise StoreError(self._failure(exc)) from exc
                self._disconnect()
                delay = _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]
                if attempt < retries and time.monotonic() - started + delay <= _RETRY_BUDGET:
                    time.sleep(delay)
                    continue
                raise StoreError(
                    f"cannot reach the Chroma server at {self.settings.chroma_url} "
                    f"({type(exc).__name__}: {exc}; gave up after "
                    f"{time.monotonic() - started:.1f}s); start it with `chroma run --path DIR "
                    f"--host HOST --port PORT` (the same --path as before, so the index is "
                    f"still there) or unset RAG_CHROMA_URL to use the local index"
                ) from exc
        raise AssertionError("unreachable")

    def _failure(self, exc: BaseException) -> str:
        """What failed, and for the embedded store's own troubles, what to do about it."""
        message = f"Chroma at {self.location} failed: {type(exc).__name__}: {exc}"
        if self.settings.chroma_url:
            return message
        text = str(exc).lower()
        if "readonly database" in text or "read-only file system" in text:
            return (
                f"{message}; the index folder {self.settings.index_dir} must be writable "
                f"(Chroma writes to it even to answer questions): make it writable, or copy "
                f"it to a writable place and point RAG_INDEX_DIR there"
            )
        if any(word in text for word in _DAMAGED):
            return _damaged(self.settings.index_dir, message)
        free = _free_bytes(self.settings.index_dir)
        if "disk is full" in text or "no space left" in text or free < _LOW_SPACE:
            return (
                f"{message}; the disk holding {self.settings.index_dir} is full "
                f"({free / 1024 / 1024:.1f} MB free): free some space and run the same "
                f"command again (what was stored before is kept; `rag check` verifies it)"
            )
        return message

    def collection(self, name: str, create: bool = True) -> Any:
        self._fresh()
        with self._lock:
            if name not in self._collections:

                def get() -> Any:
                    client = self.client  # connects first: that takes the open lock itself
                    if create:
                        with self._open_lock():
                            return client.get_or_create_collection(
                                name,
                                embedding_function=None,
                                configuration={"hnsw": {"space": "cosine"}},
                            )
                    return client.get_collection(name, embedding_function=None)

                self._collections[name] = self._call(get)
            return self._collections[name]

    def collection_names(self) -> list[str]:
        self._fresh()
        return [c.name for c in self._call(self.client.list_collections)]

    @_writes
    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        if name in self.collection_names():
            self._call(lambda: self.client.delete_collection(name))

    # -- the server-mode ingest lock -----------------------------------------------------------

    def create_lock(self, name: str, owner: dict[str, Any]) -> str | None:
        """Create collection ``name`` holding ``owner``: its id, or None when it exists.

        Creating a collection is atomic on the server, so of several processes (or hosts)
        trying at once exactly one succeeds.
        """

        def create() -> str | None:
            try:
                col = self.client.create_collection(name, metadata=owner, embedding_function=None)
            except Exception as exc:
                if "already exists" in str(exc).lower():
                    return None
                raise
            return str(col.id)

        return self._call(lambda: _settled(create))

    def read_lock(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """The lock's id and what its owner wrote, or None when nobody holds it."""

        def get() -> tuple[str, dict[str, Any]] | None:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except Exception as exc:
                if "does not exist" in str(exc).lower():
                    return None
                raise
            return str(col.id), dict(col.metadata or {})

        return self._call(lambda: _settled(get))

    def lock_info(self, name: str) -> dict[str, Any] | None:
        held = self.read_lock(name)
        return None if held is None else held[1]

    def renew_lock(self, name: str, lock_id: str, owner: dict[str, Any]) -> bool:
        """Write ``owner`` into lock ``lock_id`` again; False when it is no longer the lock."""

        def renew() -> bool:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except Exception as exc:
                if "does not exist" in str(exc).lower():
                    return False
                raise
            if str(col.id) != lock_id:
                return False
            col.modify(metadata=owner)
            return True

        return self._call(lambda: _settled(renew))

    def remove_lock(self, name: str, lock_id: str) -> None:
        """Remove lock ``name`` only while it is still the collection ``lock_id``.

        A compare-and-set: the lock is first renamed by its id, which cannot touch a newer
        lock of the same name that another process created meanwhile, then deleted under
        its new, unique name. Of several processes removing the same stale lock, each
        renames the old collection at most; none can remove the lock that replaced it.
        """

        def remove() -> None:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except Exception as exc:
                if "does not exist" in str(exc).lower():
                    return
                raise
            if str(col.id) != lock_id:
                return  # already replaced by another process's lock: not ours to remove
            gone = f"{name}-removed-{uuid.uuid4().hex}"
            try:
                col.modify(name=gone)
                self.client.delete_collection(gone)
            except Exception as exc:  # renamed or deleted by another remover first
                if "does not exist" not in str(exc).lower() and "not found" not in str(exc).lower():
                    raise

        self._call(lambda: _settled(remove))

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The shared state record: active generation, model, revision, last sync.

        In the embedded store it is read again only after a write (the write mark tells),
        so a search does not pay for reading it; a server is asked every time."""
        mark = self.write_mark()
        seen = self._state_seen
        if mark is not None and seen is not None and seen[0] == mark:
            return dict(seen[1])
        col = self.collection(STATE_COLLECTION)
        got = self._call(lambda: col.get(ids=["state"], include=["documents"]))
        state = dict(json.loads(got["documents"][0])) if got["ids"] else {}
        if mark is not None:  # read before the state: a write in between changes it again
            self._state_seen = (mark, dict(state))
        return state

    @_writes
    def set_state(self, **changes: Any) -> dict[str, Any]:
        state = {**self.state(), **changes}
        col = self.collection(STATE_COLLECTION)
        self._call(
            lambda: col.upsert(ids=["state"], embeddings=[[1.0]], documents=[json.dumps(state)])
        )
        return state

    # -- generation contents ----------------------------------------------------------------

    @staticmethod
    def chunks_name(gen: str) -> str:
        return f"rag-{gen}-chunks"

    @staticmethod
    def articles_name(gen: str) -> str:
        return f"rag-{gen}-articles"

    def manifest(self, gen: str) -> dict[str, dict[str, Any]]:
        """doc_id -> article metadata (without text) for every stored article."""
        col = self.collection(self.articles_name(gen))
        out: dict[str, dict[str, Any]] = {}
        for ids, _, metas in self._pages(col, include=["metadatas"]):
            out.update(zip(ids, metas, strict=True))
        return out

    def chunk_doc_ids(self, gen: str) -> dict[str, str]:
        """chunk id -> doc id for every stored chunk (used to repair after a crash)."""
        col = self.collection(self.chunks_name(gen))
        out: dict[str, str] = {}
        for ids, _, metas in self._pages(col, include=["metadatas"]):
            out.update((i, str(m["doc_id"])) for i, m in zip(ids, metas, strict=True))
        return out

    def iter_chunks(self, gen: str) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of (ids, texts, metadatas) of every chunk, for the lexical index."""
        col = self.collection(self.chunks_name(gen))
        yield from self._pages(col, include=["documents", "metadatas"])

    def _pages(
        self, col: Any, include: list[str]
    ) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        offset = 0
        while True:
            got = self._call(lambda: col.get(include=include, limit=_PAGE, offset=offset))
            ids = list(got["ids"])
            if not ids:
                return
            docs = list(got.get("documents") or [""] * len(ids))
            metas = [dict(m or {}) for m in (got.get("metadatas") or [{}] * len(ids))]
            yield ids, docs, metas
            if len(ids) < _PAGE:
                return
            offset += len(ids)

    def get_article(self, gen: str, doc_id: str) -> Article | None:
        col = self.collection(self.articles_name(gen))
        got = self._call(lambda: col.get(ids=[doc_id], include=["documents", "metadatas"]))
        if not got["ids"]:
            return None
        return article_from(doc_id, got["documents"][0], dict(got["metadatas"][0] or {}))

    def count(self, gen: str) -> tuple[int, int]:
        """(articles, chunks) stored in a generation."""
        arts = self.collection(self.articles_name(gen))
        chunks = self.collection(self.chunks_name(gen))
        return int(self._call(arts.count)), int(self._call(chunks.count))

    # -- verification -------------------------------------------------------------------------

    def unreachable_chunks(self, gen: str, keep: Callable[[str], bool] | None = None) -> list[str]:
        """Chunks that are stored (text, metadata, counted) but not found by their own vector.

        Chroma can lose vectors from its search index after a crash or a full disk while
        keeping the records. Each batch of chunk ids is searched with a query restricted to
        those ids, which must return every one of them; a chunk missing from the answer (or
        a batch whose query fails) is then tried alone, with its own stored vector.
        ``keep``: check only the chunk ids it accepts (a shard's own).
        """
        col = self.collection(self.chunks_name(gen))
        lost: list[str] = []
        every: list[str] = []
        for ids, _, _ in self._pages(col, include=[]):
            every += ids
            mine = ids if keep is None else [c for c in ids if keep(c)]
            for i in range(0, len(mine), _CHECK_BATCH):
                part = mine[i : i + _CHECK_BATCH]
                found = self._found_together(col, part)
                lost += [c for c in part if c not in found and not self._reachable(col, c)]
        # A query restricted to some ids can be answered by scanning their stored vectors, so
        # it finds a chunk the search index itself has lost: a query over the whole
        # collection must return every chunk too (what a question searches).
        if every and len(every) <= _WHOLE_QUERY_MAX:
            vector = next((v for c in every[:3] if (v := self._own_vector(col, c))), None)
            # Other shards may be adding chunks meanwhile: ask for more than were listed, so
            # that theirs cannot crowd ours out of the answer.
            n = len(every) if keep is None else 2 * len(every) + _CHECK_BATCH
            got = None
            if vector is not None:
                got = self._attempt(
                    lambda: col.query(query_embeddings=[vector], n_results=n, include=[])
                )
            found_all = set(got["ids"][0]) if got is not None else set()
            seen = set(lost)
            lost += [
                c
                for c in every
                if c not in found_all and c not in seen and (keep is None or keep(c))
            ]
        return lost

    def _found_together(self, col: Any, ids: list[str]) -> set[str]:
        for probe_id in ids[:3]:  # a probe vector: the first of these that can be read
            vector = self._own_vector(col, probe_id)
            if vector is None:
                continue
            got = self._attempt(
                lambda: col.query(
                    query_embeddings=[vector], ids=ids, n_results=len(ids), include=[]
                )
            )
            return set(got["ids"][0]) if got is not None else set()
        return set()

    def _own_vector(self, col: Any, chunk_id: str) -> list[float] | None:
        got = self._attempt(lambda: col.get(ids=[chunk_id], include=["embeddings"]))
        if got is None or not len(got["ids"]) or got["embeddings"] is None:
            return None
        vector = [float(x) for x in got["embeddings"][0]]
        return vector or None

    def _reachable(self, col: Any, chunk_id: str) -> bool:
        vector = self._own_vector(col, chunk_id)
        if vector is None:
            return False
        got = self._attempt(
            lambda: col.query(query_embeddings=[vector], ids=[chunk_id], n_results=1, include=[])
        )
        return got is not None and chunk_id in got["ids"][0]

    def _attempt(self, fn: Callable[[], T]) -> T | None:
        """``fn()``, or None when Chroma answers it with an error (an unreachable server
        still raises: that says nothing about the index)."""
        try:
            return self._call(fn)
        except StoreError as exc:
            if self.settings.chroma_url and _is_connection_error(exc):
                raise
            return None

    def chunk_records(self, gen: str, chunk_ids: Sequence[str]) -> list[tuple[Article, Chunk]]:
        """The stored chunks ``chunk_ids`` (and their article's metadata), for re-embedding."""
        col = self.collection(self.chunks_name(gen))
        out: list[tuple[Article, Chunk]] = []
        for i in range(0, len(chunk_ids), _PAGE):
            part = list(chunk_ids[i : i + _PAGE])
            got = self._call(lambda: col.get(ids=part, include=["documents", "metadatas"]))
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                meta = dict(meta or {})
                doc = str(meta.get("doc_id", doc_id_of(cid)))
                chunk = Chunk(
                    doc, int(meta.get("index", 0)), text, int(meta["start"]), int(meta["end"])
                )
                out.append((article_from(doc, "", meta), chunk))
        return out

    # -- writes -----------------------------------------------------------------------------

    @_writes
    def put_chunks(
        self,
        gen: str,
        pairs: Sequence[tuple[Article, Chunk]],
        vectors: np.ndarray,
        sentence_vectors: Sequence[np.ndarray] | None = None,
    ) -> None:
        """Store chunks with their vectors (one upsert per batch, idempotent by chunk id),
        and with each chunk's sentence vectors when given."""
        col = self.collection(self.chunks_name(gen))
        for i in range(0, len(pairs), _WRITE_BATCH):
            part = pairs[i : i + _WRITE_BATCH]
            ids = [c.chunk_id for _, c in part]
            docs = [c.text for _, c in part]
            metas: list[dict[str, Any]] = [
                {**article_metadata(a), "start": c.start, "end": c.end, "index": c.index}
                for a, c in part
            ]
            if sentence_vectors is not None:
                for meta, rows in zip(metas, sentence_vectors[i : i + _WRITE_BATCH], strict=True):
                    if len(rows):
                        meta[SENTENCES_FIELD] = pack_vectors(rows)
            embs = vectors[i : i + _WRITE_BATCH].tolist()
            self._call(
                lambda: col.upsert(ids=ids, embeddings=embs, documents=docs, metadatas=metas)
            )

    def chunks_without_sentence_vectors(self, gen: str) -> list[tuple[str, str]]:
        """(chunk id, text) of the chunks stored without their sentences' vectors."""
        col = self.collection(self.chunks_name(gen))
        return [
            (cid, text)
            for ids, texts, metas in self._pages(col, include=["documents", "metadatas"])
            for cid, text, meta in zip(ids, texts, metas, strict=True)
            if unpack_vectors(meta.get(SENTENCES_FIELD)) is None and text.strip()
        ]

    @_writes
    def set_sentence_vectors(
        self, gen: str, chunk_ids: Sequence[str], rows: Sequence[np.ndarray]
    ) -> None:
        """Add sentence vectors to stored chunks (the rest of their metadata is kept)."""
        col = self.collection(self.chunks_name(gen))
        for i in range(0, len(chunk_ids), _WRITE_BATCH):
            ids = list(chunk_ids[i : i + _WRITE_BATCH])
            metas = [{SENTENCES_FIELD: pack_vectors(r)} for r in rows[i : i + _WRITE_BATCH]]
            self._call(lambda: col.update(ids=ids, metadatas=metas))

    @_writes
    def put_articles(
        self, gen: str, rows: Sequence[tuple[Article, list[float], int, list[Any]]]
    ) -> None:
        """Write manifest records (article, mean vector, chunks, origins) after the chunks."""
        col = self.collection(self.articles_name(gen))
        for i in range(0, len(rows), _WRITE_BATCH):
            part = rows[i : i + _WRITE_BATCH]
            ids = [a.doc_id for a, _, _, _ in part]
            docs = [a.text for a, _, _, _ in part]
            embs = [v for _, v, _, _ in part]
            metas = [
                {**article_metadata(a), "n_chunks": n, "origins": json.dumps(o)}
                for a, _, n, o in part
            ]
            self._call(
                lambda: col.upsert(ids=ids, embeddings=embs, documents=docs, metadatas=metas)
            )

    @_writes
    def set_origins(self, gen: str, doc_id: str, origins: list[Any]) -> None:
        col = self.collection(self.articles_name(gen))
        self._call(lambda: col.update(ids=[doc_id], metadatas=[{"origins": json.dumps(origins)}]))

    @_writes
    def delete_articles(self, gen: str, doc_ids: Sequence[str]) -> None:
        """Remove articles: the manifest record first, then the chunks."""
        if not doc_ids:
            return
        arts = self.collection(self.articles_name(gen))
        chunks = self.collection(self.chunks_name(gen))
        for i in range(0, len(doc_ids), 500):
            batch = list(doc_ids[i : i + 500])
            self._call(lambda: arts.delete(ids=batch))
            self._call(lambda: chunks.delete(where={"doc_id": {"$in": batch}}))

    @_writes
    def delete_chunks(self, gen: str, chunk_ids: Sequence[str]) -> None:
        col = self.collection(self.chunks_name(gen))
        for i in range(0, len(chunk_ids), 1000):
            batch = list(chunk_ids[i : i + 1000])
            self._call(lambda: col.delete(ids=batch))

    # -- reads for retrieval ----------------------------------------------------------------

    def search(
        self, gen: str, vector: Sequence[float], n: int, where: dict[str, Any] | None = None
    ) -> list[str]:
        """Ids of the nearest chunks by cosine similarity, best first (nothing else is read)."""
        col = self.collection(self.chunks_name(gen))
        got = self._call(
            lambda: col.query(
                query_embeddings=[list(vector)], n_results=n, where=where or None, include=[]
            )
        )
        return list(got["ids"][0])

    def get_chunks(
        self, gen: str, chunk_ids: Sequence[str], vector: Sequence[float] | None = None
    ) -> dict[str, Passage]:
        """Chunks by id; scored by cosine similarity with ``vector`` when given."""
        import numpy as np

        col = self.collection(self.chunks_name(gen))
        include = ["documents", "metadatas"] + (["embeddings"] if vector is not None else [])
        got = self._call(lambda: col.get(ids=list(chunk_ids), include=include))
        scores = [0.0] * len(got["ids"])
        if vector is not None and len(got["ids"]):
            scores = (np.asarray(got["embeddings"]) @ np.asarray(vector)).tolist()
        return {
            cid: passage_from(cid, doc, dict(meta or {}), score)
            for cid, doc, meta, score in zip(
                got["ids"], got["documents"], got["metadatas"], scores, strict=True
            )
        }


# What a Chroma server says about a collection another client is creating, renaming or
# deleting at that very moment (its record is there, its segments not yet or no longer).
_IN_FLUX = ("missing metadata segment", "missing field")


def _settled(fn: Callable[[], T]) -> T:
    """``fn()``, tried again for up to a second while the collection it touches is being
    created or removed by another client: the lock operations race each other by design."""
    for wait in (0.02, 0.05, 0.1, 0.2, 0.4, 0.0):
        try:
            return fn()
        except Exception as exc:
            if not wait or not any(m in str(exc).lower() for m in _IN_FLUX):
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")


def _free_bytes(folder: Path) -> float:
    try:
        return float(shutil.disk_usage(folder).free)
    except OSError:
        return float("inf")


def _damaged(index_dir: Path, what: str) -> str:
    return (
        f"the index is damaged ({what}): move the folder {index_dir} aside (or delete it) "
        f"and run `rag ingest` to rebuild it from your files"
    )


def _bound_timeouts(client: Any) -> None:
    """Give the HTTP session finite timeouts (chromadb's default is to wait forever).

    Without them an unreachable host or a stalled server would hang a request for
    minutes instead of failing into the retry loop. The session is chromadb's own, so
    this is best effort: if its layout changes, requests keep chromadb's defaults.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(_READ_TIMEOUT, connect=_CONNECT_TIMEOUT)


def _is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the server could not be reached."""
    import httpx

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        # A proxy or load balancer in front of a server that is down or restarting.
        text = f"{type(current).__name__} {current}".lower()
        if any(word in text for word in _UNAVAILABLE):
            return True
        current = current.__cause__ or current.__context__
    return False
