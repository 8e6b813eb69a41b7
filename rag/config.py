"""Settings: one frozen object read from ``RAG_*`` environment variables.

Explicit arguments win over the environment::

    settings = Settings.from_env(index_dir="/tmp/idx", k=8)
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
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


class Secret(str):
    """A string setting that never prints: ``repr`` and ``str`` show stars, and
    :meth:`get_secret_value` gives the value. It is still a ``str`` (``"user:pw".partition``
    works, an empty one is false), so code that splits or tests it needs no change."""

    __slots__ = ()

    def get_secret_value(self) -> str:
        return str.__str__(self)  # an exact str, no longer masked

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _setting(env: str, default: Any, description: str, *, shown: str | None = None) -> Any:
    """One row of the settings table: its variable, default and description (the README's
    table mirrors them). ``shown``: the default as the README writes it, when it differs."""
    meta = {"env": env, "description": description, "shown": shown}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


MIN_CHUNK_SIZE = 200


@dataclass(frozen=True)
class Settings:
    """Every setting rag reads, with its environment variable and default; build with
    :meth:`from_env`. Relative paths are taken from the repository root."""

    index_dir: Path = _setting(
        "RAG_INDEX_DIR", Path(".rag"), "where the embedded Chroma index lives"
    )
    corpus_dir: Path = _setting(
        "RAG_CORPUS_DIR", Path("corpus"), "folder that `rag ingest` syncs by default"
    )
    embed_model: str = _setting(
        "RAG_EMBED_MODEL",
        "all-MiniLM-L6-v2",
        "sentence-transformers model: a bundled name or a local path",
    )
    embeddings: str = _setting(
        "RAG_EMBEDDINGS",
        "",
        "what embeds passages at ingest: openai:MODEL (an OpenAI-compatible /v1/embeddings "
        "server), ollama:MODEL or package.module:Name (a LangChain Embeddings class); empty: "
        "the local RAG_EMBED_MODEL (see Scale)",
    )
    embeddings_base_url: str = _setting(
        "RAG_EMBEDDINGS_BASE_URL", "", "URL of the RAG_EMBEDDINGS server, e.g. http://gpu:8080/v1"
    )
    embeddings_api_key: Secret = _setting(
        "RAG_EMBEDDINGS_API_KEY",
        Secret(""),
        "API key for the RAG_EMBEDDINGS server (else OPENAI_API_KEY)",
    )
    embeddings_same_as_local: bool = _setting(
        "RAG_EMBEDDINGS_SAME_AS_LOCAL",
        False,
        "1: the RAG_EMBEDDINGS server runs the local RAG_EMBED_MODEL (checked on a probe "
        "text), so its vectors share the local model's index and questions are embedded "
        "locally; 0: its model gets its own index and embeds the questions too",
    )
    embeddings_timeout: float = _setting(
        "RAG_EMBEDDINGS_TIMEOUT", 120.0, "seconds before a RAG_EMBEDDINGS request is given up"
    )
    cache_dir: Path = _setting(
        "RAG_CACHE_DIR",
        default_cache_dir,
        "folder for derived model files, e.g. the embedder's ONNX export "
        "(empty: $XDG_CACHE_HOME/rag, else ~/.cache/rag)",
        shown="",
    )
    chunk_size: int = _setting("RAG_CHUNK_SIZE", 700, "target passage length in characters")
    chunk_overlap: int = _setting(
        "RAG_CHUNK_OVERLAP", 150, "characters of sentences repeated between passages"
    )
    batch_size: int = _setting("RAG_BATCH_SIZE", 64, "passages embedded per batch")
    k: int = _setting("RAG_TOP_K", 6, "passages retrieved for an answer")
    rerank: bool = _setting("RAG_RERANK", False, "rerank with the ms-marco cross-encoder (1/0)")
    rerank_model: str = _setting(
        "RAG_RERANK_MODEL", "ms-marco-MiniLM-L-12-v2", "cross-encoder for reranking"
    )
    answer_threshold: float | None = _setting(
        "RAG_ANSWER_THRESHOLD",
        None,
        "probability of being answerable below which a question is refused, 0-1 "
        "(empty: the operating point fitted on the tuning parts; see evals/README.md)",
    )
    answerer: str = _setting(
        "RAG_ANSWERER",
        "",
        "`extractive` (offline) or `llm`, or any answerer registered in `rag.protocols` "
        "(empty: `llm` when RAG_LLM is set, else `extractive`)",
    )
    llm: str = _setting(
        "RAG_LLM",
        "",
        "chat model: `local` (the bundled model, `make llm`) or provider:model, "
        "e.g. ollama:llama3.2, openai:gpt-4o-mini",
    )
    llm_base_url: str = _setting("RAG_LLM_BASE_URL", "", "base URL of an OpenAI-compatible server")
    llm_api_key: Secret = _setting(
        "RAG_LLM_API_KEY", Secret(""), "API key for the LLM (else OPENAI_API_KEY)"
    )
    llm_timeout: float = _setting("RAG_LLM_TIMEOUT", 60.0, "seconds before an LLM call is given up")
    llm_model_path: str = _setting(
        "RAG_LLM_MODEL_PATH",
        "",
        "GGUF file for RAG_LLM=local (empty: the bundled Qwen2.5-Coder-1.5B, see `make llm`)",
    )
    llm_threads: int = _setting(
        "RAG_LLM_THREADS", 0, "CPU threads of the local model (0: all cores)"
    )
    llm_context: int = _setting(
        "RAG_LLM_CONTEXT", 4096, "context length of the local model, in tokens"
    )
    llm_max_tokens: int = _setting(
        "RAG_LLM_MAX_TOKENS", 200, "longest answer the local model writes"
    )
    llm_drop_unsupported: bool = _setting(
        "RAG_LLM_DROP_UNSUPPORTED",
        False,
        "leave out (1) rather than flag (0) synthesized sentences their quotes do not support",
    )
    chroma_url: str = _setting(
        "RAG_CHROMA_URL", "", "use a Chroma server (http://host:port) instead of the embedded store"
    )
    host: str = _setting("RAG_HOST", "127.0.0.1", "address the web UI listens on")
    port: int = _setting("RAG_PORT", 7860, "port of the web UI")
    auth: Secret = _setting("RAG_AUTH", Secret(""), "user:password required by the web UI")
    upload_max_mb: float = _setting(
        "RAG_UPLOAD_MAX_MB", 20.0, "largest upload the web UI accepts, in MB"
    )
    max_file_mb: float = _setting(
        "RAG_MAX_FILE_MB",
        50.0,
        "largest file `rag ingest` reads, in MB (larger ones are skipped and named)",
    )
    fetch_timeout: float = _setting(
        "RAG_FETCH_TIMEOUT", 20.0, "seconds before fetching a feed or page fails"
    )
    fetch_max_mb: float = _setting("RAG_FETCH_MAX_MB", 5.0, "largest feed or page fetched, in MB")
    fetch_delay: float = _setting(
        "RAG_FETCH_DELAY", 1.0, "seconds between two requests to the same host"
    )
    fetch_allow_private: bool = _setting(
        "RAG_FETCH_ALLOW_PRIVATE",
        False,
        "fetch URLs on private, loopback and link-local addresses (1/0; see Feeds and URLs)",
    )
    max_age_days: float | None = _setting(
        "RAG_MAX_AGE_DAYS",
        None,
        "an answer whose newest cited article is older than this many days (before the "
        "question's as_of date, or today) says so (empty: only when older than a date range "
        "the question names)",
    )
    recency: float = _setting(
        "RAG_RECENCY",
        0.0,
        "weight of the recency prior that favours recent articles, 0-1 (0: none; questions "
        "asking for the latest always prefer recent articles)",
    )

    def __post_init__(self) -> None:
        if not self.answerer:  # setting RAG_LLM asks for the LLM answerer
            object.__setattr__(self, "answerer", "llm" if self.llm else "extractive")
        # A secret given as a plain str (Settings(auth="u:p"), .replace) is still a secret.
        for name in ("llm_api_key", "embeddings_api_key", "auth"):
            value = getattr(self, name)
            if not isinstance(value, Secret):
                object.__setattr__(self, name, Secret(value or ""))

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read ``RAG_*`` variables; keyword arguments override them."""
        unknown = set(overrides) - set(ENV)
        if unknown:
            raise ConfigError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(ENV)}")
        values: dict[str, Any] = {}
        root = project_root()
        types = _types()
        for f in dataclasses.fields(cls):
            if overrides.get(f.name) is not None:
                values[f.name] = overrides[f.name]
                continue
            var = f.metadata["env"]
            raw = os.environ.get(var)
            if raw is None:
                continue  # the default
            values[f.name] = _parse(var, raw, types[f.name])
        if not str(values.get("cache_dir", "x")).strip():
            del values["cache_dir"]  # empty: the default folder
        for name in ("index_dir", "corpus_dir", "cache_dir"):
            path = Path(values.get(name, _default(name))).expanduser()
            values[name] = path if path.is_absolute() else root / path
        return cls(**values).validated()

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> Settings:
        if self.chunk_size < MIN_CHUNK_SIZE:
            raise ConfigError(
                f"RAG_CHUNK_SIZE={self.chunk_size} is too small; use {MIN_CHUNK_SIZE} or more"
            )
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"RAG_CHUNK_OVERLAP={self.chunk_overlap} must be between 0 and "
                f"RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.k < 1:
            raise ConfigError(f"k={self.k}: ask for at least one passage")
        from .protocols import answerers

        if self.answerer not in answerers:
            known = " or ".join(repr(n) for n in answerers.names())
            raise ConfigError(f"RAG_ANSWERER={self.answerer!r}: use {known}")
        if self.answerer == "llm" and not self.llm:
            raise ConfigError(
                "RAG_ANSWERER=llm needs RAG_LLM, e.g. RAG_LLM=ollama:llama3.2 "
                "or RAG_LLM=openai:gpt-4o-mini"
            )
        if self.llm and ":" not in self.llm and self.llm.strip().lower() != "local":
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
        if self.llm_threads < 0 or self.llm_context < 512 or self.llm_max_tokens < 1:
            raise ConfigError(
                f"RAG_LLM_THREADS={self.llm_threads}, RAG_LLM_CONTEXT={self.llm_context}, "
                f"RAG_LLM_MAX_TOKENS={self.llm_max_tokens}: use 0 or more threads, a context "
                "of 512 tokens or more and at least one answer token"
            )
        if self.fetch_timeout <= 0 or self.fetch_max_mb <= 0 or self.fetch_delay < 0:
            raise ConfigError(
                "RAG_FETCH_TIMEOUT and RAG_FETCH_MAX_MB must be positive, RAG_FETCH_DELAY "
                "not negative"
            )
        if not 0.0 <= self.recency <= 1.0:
            raise ConfigError(f"RAG_RECENCY={self.recency}: use a weight from 0 to 1")
        if self.embeddings:
            from .embed_remote import parse_spec

            parse_spec(self.embeddings)  # a ConfigError that shows the accepted forms
        if self.embeddings_timeout <= 0:
            raise ConfigError(
                f"RAG_EMBEDDINGS_TIMEOUT={self.embeddings_timeout}: use a positive number of "
                "seconds"
            )
        if self.llm_timeout <= 0:
            raise ConfigError(
                f"RAG_LLM_TIMEOUT={self.llm_timeout}: use a positive number of seconds"
            )
        return self


def _shown(f: dataclasses.Field[Any]) -> str:
    """A default as the environment variable would spell it (the README's table)."""
    if f.metadata["shown"] is not None:
        return str(f.metadata["shown"])
    value = f.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(name: str) -> Any:
    f = next(f for f in dataclasses.fields(Settings) if f.name == name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@functools.cache
def _types() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


# name -> (environment variable, default as written, description): a view of the table above,
# for the CLI's help and the README check.
ENV: dict[str, tuple[str, str, str]] = {
    f.name: (f.metadata["env"], _shown(f), f.metadata["description"])
    for f in dataclasses.fields(Settings)
}

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


def _parse(var: str, raw: str, kind: Any) -> Any:
    raw = raw.strip()
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind == (float | None):
            return float(raw) if raw else None
        if kind is bool:
            return _BOOL[raw.lower()]
    except (ValueError, KeyError):
        name = getattr(kind, "__name__", None) or str(kind)
        raise ConfigError(f"{var}={raw!r} is not a valid {name}") from None
    if kind is Secret:
        return Secret(raw)
    return raw
