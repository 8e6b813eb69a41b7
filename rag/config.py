"""Settings: one frozen object read from ``RAG_*`` environment variables.

Explicit arguments win over the environment::

    settings = Settings.from_env(index_dir="/tmp/idx", k=8)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError


def default_cache_dir() -> Path:
    """Where derived model files go when RAG_CACHE_DIR is empty."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "rag"
    try:
        return Path.home() / ".cache" / "rag"
    except RuntimeError:  # no home directory (some service accounts)
        import tempfile

        return Path(tempfile.gettempdir()) / "rag-cache"


def project_root() -> Path:
    """The source checkout this package runs from, else the working directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "rag").is_dir():
        return here
    return Path.cwd()


# name -> (environment variable, default, one-line description); the README table mirrors it.
ENV: dict[str, tuple[str, str, str]] = {
    "index_dir": ("RAG_INDEX_DIR", ".rag", "where the embedded Chroma index lives"),
    "corpus_dir": ("RAG_CORPUS_DIR", "corpus", "folder that `rag ingest` syncs by default"),
    "embed_model": (
        "RAG_EMBED_MODEL",
        "all-MiniLM-L6-v2",
        "sentence-transformers model: a bundled name or a local path",
    ),
    "cache_dir": (
        "RAG_CACHE_DIR",
        "",
        "folder for derived model files, e.g. the embedder's ONNX export "
        "(empty: $XDG_CACHE_HOME/rag, else ~/.cache/rag)",
    ),
    "chunk_size": ("RAG_CHUNK_SIZE", "700", "target passage length in characters"),
    "chunk_overlap": (
        "RAG_CHUNK_OVERLAP",
        "150",
        "characters of sentences repeated between passages",
    ),
    "batch_size": ("RAG_BATCH_SIZE", "64", "passages embedded per batch"),
    "k": ("RAG_TOP_K", "6", "passages retrieved for an answer"),
    "rerank": ("RAG_RERANK", "0", "rerank with the ms-marco cross-encoder (1/0)"),
    "rerank_model": ("RAG_RERANK_MODEL", "ms-marco-MiniLM-L-12-v2", "cross-encoder for reranking"),
    "answer_threshold": (
        "RAG_ANSWER_THRESHOLD",
        "",
        "probability of being answerable below which a question is refused, 0-1 "
        "(empty: the operating point fitted on the tuning parts; see evals/README.md)",
    ),
    "answerer": ("RAG_ANSWERER", "extractive", "`extractive` (offline) or `llm`"),
    "llm": (
        "RAG_LLM",
        "",
        "chat model as provider:model, e.g. ollama:llama3.2, openai:gpt-4o-mini",
    ),
    "llm_base_url": ("RAG_LLM_BASE_URL", "", "base URL of an OpenAI-compatible server"),
    "llm_api_key": ("RAG_LLM_API_KEY", "", "API key for the LLM (else OPENAI_API_KEY)"),
    "llm_timeout": ("RAG_LLM_TIMEOUT", "60", "seconds before an LLM call is given up"),
    "chroma_url": (
        "RAG_CHROMA_URL",
        "",
        "use a Chroma server (http://host:port) instead of the embedded store",
    ),
    "host": ("RAG_HOST", "127.0.0.1", "address the web UI listens on"),
    "port": ("RAG_PORT", "7860", "port of the web UI"),
    "auth": ("RAG_AUTH", "", "user:password required by the web UI"),
    "upload_max_mb": ("RAG_UPLOAD_MAX_MB", "20", "largest upload the web UI accepts, in MB"),
    "max_file_mb": (
        "RAG_MAX_FILE_MB",
        "50",
        "largest file `rag ingest` reads, in MB (larger ones are skipped and named)",
    ),
    "fetch_timeout": ("RAG_FETCH_TIMEOUT", "20", "seconds before fetching a feed or page fails"),
    "fetch_max_mb": ("RAG_FETCH_MAX_MB", "5", "largest feed or page fetched, in MB"),
    "fetch_delay": ("RAG_FETCH_DELAY", "1", "seconds between two requests to the same host"),
    "fetch_allow_private": (
        "RAG_FETCH_ALLOW_PRIVATE",
        "0",
        "fetch URLs on private, loopback and link-local addresses (1/0; see Feeds and URLs)",
    ),
    "max_age_days": (
        "RAG_MAX_AGE_DAYS",
        "",
        "an answer whose newest cited article is older than this many days (before the "
        "question's as_of date, or today) says so (empty: only when older than a date range "
        "the question names)",
    ),
    "recency": (
        "RAG_RECENCY",
        "0",
        "weight of the recency prior that favours recent articles, 0-1 (0: none; questions "
        "asking for the latest always prefer recent articles)",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Every setting rag reads; build with :meth:`from_env`."""

    index_dir: Path
    corpus_dir: Path
    embed_model: str = "all-MiniLM-L6-v2"
    cache_dir: Path = dataclasses.field(default_factory=default_cache_dir)
    chunk_size: int = 700
    chunk_overlap: int = 150
    batch_size: int = 64
    k: int = 6
    rerank: bool = False
    rerank_model: str = "ms-marco-MiniLM-L-12-v2"
    answer_threshold: float | None = None
    answerer: str = "extractive"
    llm: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0
    chroma_url: str = ""
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""
    upload_max_mb: float = 20.0
    max_file_mb: float = 50.0
    fetch_timeout: float = 20.0
    fetch_max_mb: float = 5.0
    fetch_delay: float = 1.0
    fetch_allow_private: bool = False
    max_age_days: float | None = None
    recency: float = 0.0

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read ``RAG_*`` variables; keyword arguments override them."""
        unknown = set(overrides) - set(ENV)
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(ENV)}")
        values: dict[str, Any] = {}
        root = project_root()
        for name, (var, default, _) in ENV.items():
            if name in overrides and overrides[name] is not None:
                values[name] = overrides[name]
                continue
            raw = os.environ.get(var, default)
            values[name] = _parse(name, var, raw)
        if not str(values["cache_dir"]).strip():
            values["cache_dir"] = default_cache_dir()
        for name in ("index_dir", "corpus_dir", "cache_dir"):
            path = Path(values[name]).expanduser()
            values[name] = path if path.is_absolute() else root / path
        return cls(**values).validated()

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> Settings:
        if self.chunk_size < 50:
            raise ConfigError(f"RAG_CHUNK_SIZE={self.chunk_size} is too small; use 200 or more")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"RAG_CHUNK_OVERLAP={self.chunk_overlap} must be between 0 and "
                f"RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.k < 1:
            raise ConfigError(f"k={self.k}: ask for at least one passage")
        if self.answerer not in ("extractive", "llm"):
            raise ConfigError(f"RAG_ANSWERER={self.answerer!r}: use 'extractive' or 'llm'")
        if self.answerer == "llm" and not self.llm:
            raise ConfigError(
                "RAG_ANSWERER=llm needs RAG_LLM, e.g. RAG_LLM=ollama:llama3.2 "
                "or RAG_LLM=openai:gpt-4o-mini"
            )
        if self.llm and ":" not in self.llm:
            raise ConfigError(
                f"RAG_LLM={self.llm!r}: name the provider and model as provider:model, "
                "e.g. ollama:llama3.2 or openai:gpt-4o-mini"
            )
        if self.answer_threshold is not None and not 0.0 <= self.answer_threshold <= 1.0:
            raise ConfigError(
                f"RAG_ANSWER_THRESHOLD={self.answer_threshold}: use a probability from 0 to 1 "
                "(lower answers more, higher refuses more), or leave it empty"
            )
        if self.max_file_mb <= 0:
            raise ConfigError(f"RAG_MAX_FILE_MB={self.max_file_mb}: use a positive number of MB")
        if self.fetch_timeout <= 0 or self.fetch_max_mb <= 0 or self.fetch_delay < 0:
            raise ConfigError(
                "RAG_FETCH_TIMEOUT and RAG_FETCH_MAX_MB must be positive, RAG_FETCH_DELAY "
                "not negative"
            )
        if not 0.0 <= self.recency <= 1.0:
            raise ConfigError(f"RAG_RECENCY={self.recency}: use a weight from 0 to 1")
        if self.llm_timeout <= 0:
            raise ConfigError(
                f"RAG_LLM_TIMEOUT={self.llm_timeout}: use a positive number of seconds"
            )
        return self


_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _parse(name: str, var: str, raw: str) -> Any:
    field_type = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    raw = raw.strip()
    try:
        if field_type == "int":
            return int(raw)
        if field_type == "float":
            return float(raw)
        if field_type == "float | None":
            return float(raw) if raw else None
        if field_type == "bool":
            return _BOOL[raw.lower()]
    except (ValueError, KeyError):
        raise ConfigError(f"{var}={raw!r} is not a valid {field_type}") from None
    return raw
