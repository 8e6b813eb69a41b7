"""Embedding at ingest by any LangChain ``Embeddings`` (``RAG_EMBEDDINGS``).

A team can point ingest at a GPU embedding server while questions keep the local model::

    RAG_EMBEDDINGS=openai:all-MiniLM-L6-v2 RAG_EMBEDDINGS_BASE_URL=http://gpu:8080/v1 \\
    RAG_EMBEDDINGS_SAME_AS_LOCAL=1 rag ingest

``RAG_EMBEDDINGS`` is ``openai:MODEL`` (any OpenAI-compatible ``/v1/embeddings`` server),
``ollama:MODEL``, or ``package.module:Name``: a LangChain ``Embeddings`` class or factory
called without arguments, or an instance.

Which vectors may share an index is decided by the model's identity (``Index.model_id``,
part of the generation). Vectors from the server count as the local model's only when
``RAG_EMBEDDINGS_SAME_AS_LOCAL=1`` declares that the server runs the local ``RAG_EMBED_MODEL``,
and that declaration is checked before anything is stored: the server must reproduce the
local model's vector of a probe text. Otherwise the server's model has its own identity
(``openai:MODEL``), so its vectors go to their own generation and questions are embedded by
the server too; an index never holds vectors of two models.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, EmbeddingError, server_failure

if TYPE_CHECKING:
    import numpy as np

    from .config import Settings

PROVIDERS = ("openai", "ollama")
# package.module:Name, each part a Python identifier.
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
# Two runs of one model (GPU in half precision, ONNX on a CPU) agree to ~0.9999; another
# model's vector of the same text is far below this.
SAME_MODEL_COSINE = 0.98
PROBE = "Same model check: the launch came weeks before a political transition in Seoul."


def parse_spec(spec: str) -> tuple[str, str]:
    """``RAG_EMBEDDINGS`` as (provider, model) or ("import", "package.module:Name").

    >>> parse_spec("openai:all-MiniLM-L6-v2")
    ('openai', 'all-MiniLM-L6-v2')
    """
    spec = spec.strip()
    provider, sep, model = spec.partition(":")
    if sep and provider.strip().lower() in PROVIDERS:
        if not model.strip():
            raise ConfigError(
                f"RAG_EMBEDDINGS={spec!r} names no model: use {provider}:MODEL, e.g. "
                f"{provider}:all-MiniLM-L6-v2"
            )
        return provider.strip().lower(), model.strip()
    if _IMPORT_PATH.match(spec):
        return "import", spec
    raise ConfigError(
        f"RAG_EMBEDDINGS={spec!r}: use openai:MODEL (an OpenAI-compatible /v1/embeddings "
        "server, with RAG_EMBEDDINGS_BASE_URL), ollama:MODEL, or package.module:Name naming a "
        "LangChain Embeddings class; leave it empty to embed with the local RAG_EMBED_MODEL"
    )


def model_identity(spec: str) -> str:
    """The identity a generation records for vectors from ``spec`` (no URL: moving the
    server to another host is not a new model)."""
    provider, model = parse_spec(spec)
    return model if provider == "import" else f"{provider}:{model}"


def build_embeddings(settings: Settings) -> Any:
    """The LangChain ``Embeddings`` that ``settings.embeddings`` names."""
    provider, model = parse_spec(settings.embeddings)
    base_url = settings.embeddings_base_url.strip()
    if provider == "import":
        return _imported(model)
    package = f"langchain-{provider}"
    try:
        if provider == "ollama":
            from langchain_ollama import OllamaEmbeddings

            kwargs: dict[str, Any] = {"client_kwargs": {"timeout": settings.embeddings_timeout}}
            if base_url:
                kwargs["base_url"] = base_url
            return OllamaEmbeddings(model=model, **kwargs)
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr
    except ImportError as exc:
        raise EmbeddingError(
            f"RAG_EMBEDDINGS={settings.embeddings} needs the {package} package: run "
            f"`pip install {package}` (or `pip install 'rag-news[llm]'`)"
        ) from exc
    api_key = settings.embeddings_api_key.get_secret_value() or os.environ.get("OPENAI_API_KEY", "")
    if not api_key and not base_url:
        raise EmbeddingError(
            f"RAG_EMBEDDINGS={settings.embeddings} needs RAG_EMBEDDINGS_BASE_URL (the "
            "server's URL, e.g. http://gpu-host:8080/v1) or, for OpenAI itself, an API key "
            "in RAG_EMBEDDINGS_API_KEY or OPENAI_API_KEY"
        )
    return OpenAIEmbeddings(
        model=model,
        base_url=base_url or None,
        api_key=SecretStr(
            api_key or "not-needed"
        ),  # local servers ignore it, the client insists on one
        timeout=settings.embeddings_timeout,
        max_retries=1,
        chunk_size=settings.batch_size,
        # Send the texts themselves: the default sends OpenAI's token ids, which other
        # servers do not read (and which needs tiktoken's files from the internet).
        check_embedding_ctx_length=False,
    )


def _imported(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ConfigError(
            f"RAG_EMBEDDINGS={path!r}: cannot import {module_name!r} ({exc}); install the "
            "package that provides it, or use openai:MODEL / ollama:MODEL"
        ) from exc
    except AttributeError:
        raise ConfigError(f"RAG_EMBEDDINGS={path!r}: {module_name} has no {attr!r}") from None
    embeddings = target() if isinstance(target, type) or _is_factory(target) else target
    if not callable(getattr(embeddings, "embed_documents", None)):
        raise ConfigError(
            f"RAG_EMBEDDINGS={path!r} is not a LangChain Embeddings (it has no "
            "embed_documents method)"
        )
    return embeddings


def _is_factory(target: Any) -> bool:
    return callable(target) and not callable(getattr(target, "embed_documents", None))


class RemoteEmbedder:
    """An :class:`~rag.protocols.Embedder` over a LangChain ``Embeddings``.

    Vectors are normalised to unit length (Chroma's cosine and the answerer's dot products
    expect it); failures are :class:`EmbeddingError` naming the server and the fix.
    """

    def __init__(self, settings: Settings, embeddings: Any = None) -> None:
        self.settings = settings
        self.spec = settings.embeddings
        self.name = model_identity(self.spec)
        self.batch_size = settings.batch_size
        self._embeddings = embeddings
        self.calls = 0  # texts embedded so far

    @property
    def embeddings(self) -> Any:
        if self._embeddings is None:
            self._embeddings = build_embeddings(self.settings)
        return self._embeddings

    @property
    def where(self) -> str:
        provider, _ = parse_spec(self.spec)
        default = {"ollama": "http://localhost:11434", "openai": "the OpenAI API"}
        return self.settings.embeddings_base_url or default.get(provider, self.spec)

    def forget_recent(self) -> None:
        """Nothing to forget: every call asks the server (the local Embedder's interface)."""

    def encode(self, texts: list[str], *, progress: Callable[[int], Any] | None = None) -> Any:
        """Unit-length float32 vectors, one row per text, in batches of ``batch_size``."""
        import numpy as np

        parts: list[np.ndarray] = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            parts.append(self._batch(batch))
            self.calls += len(batch)
            if progress is not None:
                progress(len(batch))
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        dims = {p.shape[1] for p in parts}
        if len(dims) > 1:
            raise EmbeddingError(
                f"the embedding server at {self.where} returned vectors of different lengths "
                f"({sorted(dims)}) for RAG_EMBEDDINGS={self.spec}: it must serve one model"
            )
        return np.vstack(parts)

    def _batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        try:
            raw = self.embeddings.embed_documents(texts)
        except (EmbeddingError, ConfigError):
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        if len(raw) != len(texts):
            raise EmbeddingError(
                f"the embedding server at {self.where} returned {len(raw)} vectors for "
                f"{len(texts)} texts (RAG_EMBEDDINGS={self.spec})"
            )
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.ndim != 2 or not vectors.shape[1] or not np.isfinite(vectors).all():
            raise EmbeddingError(
                f"the embedding server at {self.where} returned no usable vectors "
                f"(shape {vectors.shape}) for RAG_EMBEDDINGS={self.spec}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise EmbeddingError(
                f"the embedding server at {self.where} returned an all-zero vector "
                f"(RAG_EMBEDDINGS={self.spec})"
            )
        unit: np.ndarray = vectors / norms
        return unit

    def _error(self, exc: BaseException) -> EmbeddingError:
        kind, status = server_failure(exc)
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if kind == "timeout":
            return EmbeddingError(
                f"the embedding server at {self.where} did not answer within "
                f"{self.settings.embeddings_timeout:g}s (RAG_EMBEDDINGS={self.spec}): check it "
                "is running and not overloaded, or raise RAG_EMBEDDINGS_TIMEOUT; nothing stored "
                "was changed, run the same ingest again"
            )
        if kind == "unreachable":
            return EmbeddingError(
                f"cannot reach the embedding server at {self.where} for "
                f"RAG_EMBEDDINGS={self.spec} ({what}): start the server or fix "
                "RAG_EMBEDDINGS_BASE_URL (unset RAG_EMBEDDINGS to embed locally); nothing "
                "stored was changed, run the same ingest again"
            )
        if kind == "key":
            return EmbeddingError(
                f"the embedding server at {self.where} rejected the API key (HTTP {status}): "
                "set RAG_EMBEDDINGS_API_KEY"
            )
        if kind == "not found":
            return EmbeddingError(
                f"the embedding server at {self.where} answered 404 for "
                f"RAG_EMBEDDINGS={self.spec} ({what}): check the model name and that "
                "RAG_EMBEDDINGS_BASE_URL ends with /v1 for an OpenAI-compatible server"
            )
        return EmbeddingError(
            f"the embedding server at {self.where} failed for RAG_EMBEDDINGS={self.spec} "
            f"({what}); nothing stored was changed, run the same ingest again"
        )


def check_same_model(remote: RemoteEmbedder, local: Any, local_name: str) -> None:
    """Refuse a server that was declared to run the local model but does not.

    Its vector of a probe text must match the local model's; otherwise storing its vectors
    next to the local model's (and searching them with local question vectors) would
    silently mix two models.
    """
    import numpy as np

    theirs = remote.encode([PROBE])[0]
    ours = np.asarray(local.encode([PROBE])[0], dtype=np.float32)
    if theirs.shape != ours.shape:
        raise EmbeddingError(
            f"RAG_EMBEDDINGS_SAME_AS_LOCAL=1, but the server at {remote.where} "
            f"(RAG_EMBEDDINGS={remote.spec}) gives {theirs.shape[0]}-dimensional vectors and "
            f"the local model {local_name} {ours.shape[0]}-dimensional ones: it does not run "
            "the same model. Serve the same model there, or unset RAG_EMBEDDINGS_SAME_AS_LOCAL "
            "to build a separate index for the server's model"
        )
    cosine = float(theirs @ ours / (np.linalg.norm(ours) or 1.0))
    if not math.isfinite(cosine) or cosine < SAME_MODEL_COSINE:
        raise EmbeddingError(
            f"RAG_EMBEDDINGS_SAME_AS_LOCAL=1, but the server at {remote.where} "
            f"(RAG_EMBEDDINGS={remote.spec}) does not reproduce the local model {local_name}: "
            f"cosine {cosine:.3f} between their vectors of the same text (the same model "
            f"gives over {SAME_MODEL_COSINE}). Serve the same model there, or unset "
            "RAG_EMBEDDINGS_SAME_AS_LOCAL to build a separate index for the server's model"
        )
