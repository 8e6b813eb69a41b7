"""Errors raised by rag.

Every message says what was wrong and how to fix it.

    RagError                  base class; catch this to handle any rag failure
    ├── ConfigError           a RAG_* setting or argument has a bad value
    ├── ModelNotFoundError    a model's files are not installed (names the package)
    ├── LoadError             a file cannot be read as articles (the reason says why)
    ├── IndexNotReadyError    no articles indexed yet, or indexed with another model
    ├── StoreError            Chroma could not be reached or answered with an error
    ├── EmbeddingError        the RAG_EMBEDDINGS server failed, or serves another model
    ├── QuestionError         the question cannot be answered as given (empty, ...)
    └── LLMError              the configured chat model failed or timed out
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of every error rag raises on purpose."""


class ConfigError(RagError, ValueError):
    """A setting or argument has a value rag cannot use."""


class ModelNotFoundError(RagError):
    """A model's files are not installed locally."""


class LoadError(RagError):
    """A file could not be read as one or more articles."""


class IndexNotReadyError(RagError):
    """The index is empty or was built with another embedding model."""


class StoreError(RagError):
    """The vector store failed or could not be reached."""


class EmbeddingError(RagError):
    """The configured embedding server (RAG_EMBEDDINGS) failed or gave unusable vectors."""


class QuestionError(RagError, ValueError):
    """The question is empty or otherwise unusable."""


class LLMError(RagError):
    """The configured LLM could not be reached, failed or timed out."""


def server_failure(exc: BaseException) -> tuple[str, int | None]:
    """What went wrong in a call to a model server (an LLM, an embedding server), whatever
    client library raised it: ``("timeout" | "unreachable" | "key" | "not found" | "http" |
    "other", the HTTP status if any)``."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and status > 0 else None
    if isinstance(exc, TimeoutError) or any("Timeout" in name for name in names):
        return "timeout", status
    if isinstance(exc, ConnectionError) or any("Connect" in name for name in names):
        return "unreachable", status
    if status in (401, 403):
        return "key", status
    if status == 404:
        return "not found", status
    return ("http" if status else "other"), status
