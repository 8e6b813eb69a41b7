"""The extension points: one-method protocols, and the registry that names their implementations.

Each protocol has a real implementation and can be replaced by a small stand-in in tests:

- ``Embedder.encode(texts)``: vectors for texts (``rag.models.Embedder``);
- ``Reranker.score(query, texts)``: relevance of each text to the query
  (``rag.models.Reranker``);
- ``Answerer.generate(question, query, passages, ...)``: text pieces, then the full Answer
  (``extractive``, ``llm``);
- ``QueryRewriter.rewrite(question, history)``: a standalone query for a follow-up
  (``rules``, ``llm``; ``rag.chat``);
- ``Loader.load(path, data)``: the articles of one file (``rag.loaders``, one per suffix).

The registry maps names to factories: settings (``RAG_ANSWERER``), the CLI's ``choices`` and
the UI's lists read it, so a new answerer is one class and one registration::

    from rag.protocols import register_answerer
    from rag.types import Answer

    @register_answerer("echo")
    class EchoAnswerer:
        name = "echo"

        def __init__(self, pipeline):  # built once per pipeline, on first use
            self.pipeline = pipeline

        def generate(self, question, query, passages, analysis=None, main=None):
            text = passages[0].text if passages else "Nothing found."
            yield text
            yield Answer(text=text, refused=not passages, query=query, answerer=self.name)

A package can ship parts as a plugin: an entry point in the group ``rag.plugins`` names a
module that calls these functions when imported. Importing this module imports nothing
heavy; the built-in factories import their modules when first called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from .answering.question import Question
    from .loaders import Loaded
    from .types import Answer, Passage

T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    """Texts to vectors, one row per text (normalised, so a dot product is the cosine)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class Reranker(Protocol):
    """One relevance score (a logit) per text for ``query``; higher is more relevant."""

    def score(self, query: str, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class Answerer(Protocol):
    """Yield text pieces as they are produced, then the full Answer."""

    name: str

    def generate(
        self,
        question: str,
        query: str,
        passages: list[Passage],
        analysis: Question | None = None,
        main: int | None = None,
    ) -> Iterator[str | Answer]: ...


@runtime_checkable
class QueryRewriter(Protocol):
    """A follow-up question and the turns before it -> the query to search for."""

    def rewrite(self, question: str, history: Sequence[tuple[str, str]]) -> str: ...


@runtime_checkable
class Loader(Protocol):
    """One file -> its articles (``rag.loaders.Loaded``: the articles with their keys within
    the file, and the records skipped). ``data`` is the file's content, read once (and checked
    for size and emptiness) by the caller; raise ``LoadError`` with the reason it cannot be
    read."""

    def load(self, path: Path, data: bytes) -> Loaded: ...


class Registry(Generic[T]):
    """Names -> factories of one kind of part, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, T] = {}

    def register(self, name: str, factory: T, *, replace: bool = True) -> T:
        """Add (or replace) ``name``; returns ``factory``. ``replace=False`` keeps an entry
        already there (the built-ins use it, so they never override a user's registration)."""
        if replace or name not in self._factories:
            self._factories[name] = factory
        return factory

    def names(self) -> list[str]:
        _load_plugins()
        return list(self._factories)

    def get(self, name: str) -> T:
        from .errors import ConfigError

        _load_plugins()
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self._factories)
            raise ConfigError(f"unknown {self.kind} {name!r}: use {known}") from None

    def __contains__(self, name: object) -> bool:
        _load_plugins()
        return name in self._factories


# Installed packages can register parts too: an entry point in the group "rag.plugins"
# names a module that calls the register_* functions when imported.
PLUGIN_GROUP = "rag.plugins"
_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()


# An answerer or rewriter factory gets the Pipeline it is built for (its settings, index,
# embedder and reranker), once, on first use.
AnswererFactory = Callable[[Any], Answerer]
RewriterFactory = Callable[[Any], QueryRewriter]

answerers: Registry[AnswererFactory] = Registry("answerer")
rewriters: Registry[RewriterFactory] = Registry("query rewriter")
# File suffix (".txt") -> loader.
loaders: Registry[Loader] = Registry("file type")
# Answerer name -> the rewriter its follow-ups use (the rule-based one unless registered).
_REWRITER_OF: dict[str, str] = {}


def register_answerer(
    name: str, *, rewriter: str = "rules"
) -> Callable[[AnswererFactory], AnswererFactory]:
    """Decorator: ``factory(pipeline)`` builds the answerer named ``name`` (RAG_ANSWERER)."""

    def add(factory: AnswererFactory) -> AnswererFactory:
        _REWRITER_OF[name] = rewriter
        return answerers.register(name, factory)

    return add


def rewriter_for(answerer: str) -> str:
    """The name of the query rewriter that follow-ups to ``answerer`` use."""
    return _REWRITER_OF.get(answerer, "rules")


def register_rewriter(name: str) -> Callable[[RewriterFactory], RewriterFactory]:
    """Decorator: ``factory(pipeline)`` builds the query rewriter named ``name``."""

    def add(factory: RewriterFactory) -> RewriterFactory:
        return rewriters.register(name, factory)

    return add


def register_loader(*suffixes: str, replace: bool = True) -> Callable[[T], T]:
    """Decorator: a Loader class (instantiated without arguments) or instance for files
    ending in ``suffixes`` (".txt"), used by ``rag ingest`` and the UI's uploads."""

    def add(loader: T) -> T:
        instance: Loader = loader() if isinstance(loader, type) else loader  # type: ignore[assignment]
        for suffix in suffixes:
            loaders.register(suffix.lower(), instance, replace=replace)
        return loader

    return add


# -- the built-in parts; their modules load when they are first built ---------------------------


@register_answerer("extractive")
def _extractive(pipeline: Any) -> Answerer:
    from .answering.extractive import AnswererConfig, ExtractiveAnswerer

    config = AnswererConfig(threshold=pipeline.settings.answer_threshold)
    return ExtractiveAnswerer(pipeline.embedder, pipeline.reranker, config)


@register_answerer("llm", rewriter="llm")
def _llm(pipeline: Any) -> Answerer:
    from .answering.llm import LLMAnswerer

    return LLMAnswerer(pipeline.settings, embedder=pipeline.embedder)


@register_rewriter("rules")
def _rules(pipeline: Any) -> QueryRewriter:
    from .chat import RuleRewriter

    return RuleRewriter()


@register_rewriter("llm")
def _llm_rewriter(pipeline: Any) -> QueryRewriter:
    from .chat import LLMRewriter

    return LLMRewriter(pipeline.answerer("llm"))
