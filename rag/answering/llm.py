"""The LLM answerer: a LangChain chat model writes the answer, we check every citation.

``RAG_LLM`` names the model as ``provider:model`` (``ollama:llama3.2``,
``openai:gpt-4o-mini``, or ``openai:<name>`` with ``RAG_LLM_BASE_URL`` for any
OpenAI-compatible server such as llama.cpp, vLLM or LM Studio).

The model is trusted with wording only. Whether to answer at all is decided before it
is called, by the same retrieval-support test the extractive answerer uses, so a
model that would happily make something up never gets the chance. After it replies,
markers that point to no passage are dropped, each kept marker becomes a
:class:`~rag.types.Citation` holding the exact article sentence that best supports the
answer sentence, and sentences without adequate support are listed in
``Answer.unsupported``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..chat import LLMRewriter
from ..chunking import sentence_spans
from ..config import Settings
from ..errors import ConfigError, LLMError, server_failure
from ..text import (
    MARKER,
    MARKER_GROUP,
    MARKER_TEXT,
    OPENER,
    content_terms,
    looks_like_heading,
    strip_markers,
)
from ..types import Answer, Citation, Passage
from .citations import Sentence, citation, passage_sentences
from .extractive import AnswererConfig, Decision, ExtractiveAnswerer, refusal_text
from .prompts import (
    DECLINE,
    THINKING,
    Turn,
    answer_messages,
    evidence_messages,
)
from .question import Question
from .synthesis import NUMBER as _NUMBER
from .synthesis import check as check_sentences
from .synthesis import compose, evidence_sentences, is_opener, unstated

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from ..models import Embedder, Reranker


# Answer sentence vs. its quote: 0.75 * cosine + 0.25 * share of the sentence's content
# words found in the quote. On the seed article, faithful paraphrases scored 0.50-0.84
# with MiniLM and claims the article doesn't make 0.38-0.56: similarity alone cannot
# tell "it carried a nuclear warhead" from the truth. Hence a lenient threshold plus a
# hard check that every name and number of the sentence appears in what it cites.
MIN_SUPPORT = 0.45

# "[1]", "[2, 3]", "[2][3]" and "[2] [3]" all occur in model output.
# Markers placed after the full stop ("... km. [1]") would be split off into the next
# sentence; move them before it, as the extractive answerer writes them.
_TRAILING_MARKERS = re.compile(r"([.!?])((?:[ \t]*" + MARKER_TEXT + r")+)(?=\s|$)")
_DECLINE_PHRASES = re.compile(
    r"^(?:the )?(?:articles?|passages?) (?:do not|don't|does not|doesn't) "
    r"(?:cover|contain|mention|say|answer|include)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Claim:
    """One sentence of the model's reply and the passage numbers it cites."""

    text: str  # the sentence with its markers
    start: int
    end: int
    cited: tuple[int, ...]  # valid passage numbers, 1-based, in order


class LLMAnswerer:
    """Answers with a LangChain chat model; citations are checked, never taken on trust.

    Construction is free: the chat model, embedder and reranker load on first use.

    >>> LLMAnswerer(Settings.from_env(answerer="llm", llm="ollama:llama3.2"))
    """

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.provider, self.model_name = parse_model(settings.llm)
        self._embedder = embedder
        self._reranker = reranker
        self._model: BaseChatModel | None = None
        self._judge: ExtractiveAnswerer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> BaseChatModel:
        """The chat model, built on first use (building it sends no request)."""
        with self._lock:
            if self._model is None:
                self._model = build_model(self.settings)
            return self._model

    @property
    def judge(self) -> ExtractiveAnswerer:
        """The extractive answerer, used for its support score and refusal decision."""
        with self._lock:
            if self._judge is None:
                from ..models import get_embedder, get_reranker

                s = self.settings
                embedder = self._embedder or get_embedder(s.embed_model, s.batch_size, s.cache_dir)
                reranker = self._reranker or get_reranker(self.settings.rerank_model)
                self._judge = ExtractiveAnswerer(
                    embedder, reranker, AnswererConfig(threshold=self.settings.answer_threshold)
                )
            return self._judge

    def condense(self, question: str, turns: Sequence[Turn]) -> str:
        """A standalone query for a follow-up; the rule-based rewrite if the model fails."""
        return LLMRewriter(self).rewrite(question, turns)

    def invoke(self, messages: list[BaseMessage]) -> str:
        """The model's whole reply to ``messages``; :class:`LLMError` when it fails."""
        return self._invoke(messages)

    def generate(
        self,
        question: str,
        query: str,
        passages: Sequence[Passage],
        analysis: Question | None = None,
        main: int | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the model's reply as it streams, then the checked :class:`Answer`."""
        decision = self.judge.decide(question, query, passages, analysis, main)
        if decision.refused:
            yield from self._refuse(query, passages, decision.trace.missing)
            return
        if self.provider == "local":  # short prompts for a laptop: evidence sentences only
            yield from self._synthesize(question, query, passages, decision)
            return
        raw: list[str] = []
        shown = False
        for piece in _hold_back_decline(self._stream(answer_messages(question, passages), raw)):
            shown = True
            yield piece
        reply = THINKING.sub("", "".join(raw)).strip()
        if is_decline(reply, len(passages)):
            yield from self._refuse(query, passages, (), streamed=shown)
            return
        if not shown:
            yield reply  # held back as a possible decline, and it was not one
        text, citations, unsupported = self.check(reply, passages)
        yield Answer(
            text=text,
            citations=tuple(citations),
            refused=False,
            query=query,
            passages=tuple(passages),
            unsupported=tuple(unsupported),
            answerer=self.name,
        )

    def _synthesize(
        self, question: str, query: str, passages: Sequence[Passage], decision: Decision
    ) -> Iterator[str | Answer]:
        """The model writes over the numbered evidence sentences; every sentence it writes is
        checked against what it cites; the extractive answer stands when none holds up."""
        evidence = evidence_sentences(decision.chosen, decision.considered)
        rows = [
            (
                e.text,
                e.passage.source,
                e.passage.published.isoformat() if e.passage.published else "",
                e.passage.title,
            )
            for e in evidence
        ]
        yes_no = decision.trace.kind == "yes_no"
        # The quotes are shown at once; the synthesis streams below them (a local model
        # takes seconds) and the final Answer holds it, the quotes in its citations.
        rendered = list(self.judge.render(decision, query, passages))
        quoted = rendered[-1]
        assert isinstance(quoted, Answer)
        yield quoted.text + "\n\n"
        raw: list[str] = []
        yield from _hold_back_decline(self._stream(evidence_messages(question, rows, yes_no), raw))
        reply = THINKING.sub("", "".join(raw)).strip()
        checked = (
            []
            if is_decline(reply, len(evidence))
            else check_sentences(reply, evidence, self.judge.reranker)
        )
        said = next((c.text.rstrip(".!") for c in checked[:1] if is_opener(c.text)), "")
        if not any(c.supported and not is_opener(c.text) for c in checked):
            # Nothing the model wrote holds up, or it only said yes or no: the quotes
            # answer (after its yes or no, which the quotes then have to bear out).
            text = f"{said.capitalize()}. {OPENER.sub('', quoted.text)}" if said else quoted.text
            yield replace(quoted, text=text, answerer=self.name)
            return
        text, citations, flagged = compose(checked, evidence, self.settings.llm_drop_unsupported)
        yield Answer(
            text=text,
            citations=tuple(citations),
            refused=False,
            query=query,
            passages=tuple(passages),
            unsupported=tuple(flagged),
            answerer=self.name,
            trace=decision.trace,
        )

    def check(
        self, reply: str, passages: Sequence[Passage]
    ) -> tuple[str, list[Citation], list[str]]:
        """Validate and renumber the markers of ``reply``; quote and score each citation.

        Returns the rewritten text, the citations (numbered 1..m in order of first
        appearance) and the sentences of the rewritten text that lack adequate support.
        """
        text = _normalise_markers(re.sub(rf"\s*{DECLINE}\.?", "", reply, flags=re.I))
        claims = split_claims(text, len(passages))
        quotes = self._quotes(claims, passages)
        numbers: dict[tuple[str, int, int], int] = {}
        citations: list[Citation] = []
        out: list[str] = []
        unsupported: list[str] = []
        cursor = 0
        for i, claim in enumerate(claims):
            chosen = quotes[i]
            renumbered: dict[int, int] = {}
            for n, (sentence, score) in chosen.items():
                if sentence.key not in numbers:
                    numbers[sentence.key] = len(citations) + 1
                    citations.append(citation(numbers[sentence.key], sentence, score))
                renumbered[n] = numbers[sentence.key]
            rewritten = _rewrite_markers(claim.text, renumbered)
            out.append(text[cursor : claim.start] + rewritten)
            cursor = claim.end
            support = max((score for _, score in chosen.values()), default=0.0)
            cited = [passages[n - 1] for n in claim.cited]
            if support < MIN_SUPPORT or unstated_facts(strip_markers(claim.text), cited):
                unsupported.append(rewritten)
        out.append(text[cursor:])
        return "".join(out).strip(), citations, unsupported

    def _quotes(
        self, claims: Sequence[_Claim], passages: Sequence[Passage]
    ) -> list[dict[int, tuple[Sentence, float]]]:
        """For each claim and each passage it cites: the best supporting sentence, its score."""
        cited = sorted({n for c in claims for n in c.cited})
        candidates = {n: _candidates(passages[n - 1]) for n in cited}
        pool = [s for n in cited for s in candidates[n]]
        if not pool:
            return [{} for _ in claims]
        statements = [strip_markers(c.text) for c in claims]
        vectors = self.judge.embedder.encode(statements + [s.text for s in pool])
        claim_vecs = vectors[: len(statements)]
        sentence_vecs = {s.key: v for s, v in zip(pool, vectors[len(statements) :], strict=True)}
        out: list[dict[int, tuple[Sentence, float]]] = []
        for claim, statement, vec in zip(claims, statements, claim_vecs, strict=True):
            terms = content_terms(statement)
            best: dict[int, tuple[Sentence, float]] = {}
            for n in claim.cited:
                scored = [
                    (s, _support(float(vec @ sentence_vecs[s.key]), terms, s.text))
                    for s in candidates[n]
                ]
                best[n] = max(scored, key=lambda item: item[1])
            out.append(best)
        return out

    def _refuse(
        self,
        query: str,
        passages: Sequence[Passage],
        missing: Sequence[str],
        streamed: bool = False,
    ) -> Iterator[str | Answer]:
        text = refusal_text(passages, missing)
        # Whatever the model streamed is replaced by the refusal; a new line keeps it apart.
        yield "\n\n" + text if streamed else text
        yield Answer(
            text=text, refused=True, query=query, passages=tuple(passages), answerer=self.name
        )

    def _stream(self, messages: list[BaseMessage], raw: list[str]) -> Iterator[str]:
        """The reply's text pieces as they arrive, also recorded in ``raw``."""
        try:
            for chunk in self.model.stream(messages):
                if chunk.text:
                    raw.append(chunk.text)
                    yield chunk.text
        except LLMError:
            raise
        except Exception as exc:
            raise llm_error(exc, self.settings) from exc

    def _invoke(self, messages: list[BaseMessage]) -> str:
        try:
            return self.model.invoke(messages).text
        except LLMError:
            raise
        except Exception as exc:
            raise llm_error(exc, self.settings) from exc


def parse_model(spec: str) -> tuple[str, str]:
    """Split ``RAG_LLM`` into provider and model: ``"ollama:qwen3:4b"`` -> ollama, qwen3:4b."""
    if spec.strip().lower() == "local":  # the bundled model (or RAG_LLM_MODEL_PATH)
        return "local", "qwen2.5-coder-1.5b-instruct"
    provider, sep, model = spec.strip().partition(":")
    if not sep or not provider.strip() or not model.strip():
        raise ConfigError(
            f"RAG_LLM={spec!r} must have the form provider:model, e.g. "
            "RAG_LLM=ollama:llama3.2, RAG_LLM=openai:gpt-4o-mini, or "
            "RAG_LLM=openai:<model> with RAG_LLM_BASE_URL for an OpenAI-compatible server"
        )
    return provider.strip().lower(), model.strip()


def model_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``init_chat_model``: deterministic, bounded in time."""
    provider, _ = parse_model(settings.llm)
    kwargs: dict[str, Any] = {"temperature": 0}
    base_url = settings.llm_base_url.strip()
    if provider == "ollama":
        # ChatOllama has no timeout of its own; its httpx client takes one.
        kwargs["client_kwargs"] = {"timeout": settings.llm_timeout}
        if base_url:
            kwargs["base_url"] = base_url
        return kwargs
    kwargs["timeout"] = settings.llm_timeout
    kwargs["max_retries"] = 1
    if base_url:
        kwargs["base_url"] = base_url
    api_key = settings.llm_api_key.get_secret_value() or (
        os.environ.get("OPENAI_API_KEY", "") if provider == "openai" else ""
    )
    if not api_key and base_url:
        api_key = "not-needed"  # local servers ignore it, the client insists on one
    if api_key:
        kwargs["api_key"] = api_key
    elif provider == "openai":
        raise LLMError(
            f"RAG_LLM={settings.llm} needs an API key: set RAG_LLM_API_KEY or "
            "OPENAI_API_KEY, or set RAG_LLM_BASE_URL to a local OpenAI-compatible server"
        )
    return kwargs


def build_model(settings: Settings) -> BaseChatModel:
    """The chat model ``settings.llm`` names; :class:`LLMError` says how to fix a bad one."""
    provider, model = parse_model(settings.llm)
    if provider == "local":
        from .. import local_llm

        path = local_llm.model_file(settings.cache_dir, settings.llm_model_path)
        local: BaseChatModel = local_llm.chat_model(
            path, settings.llm_threads, settings.llm_context, settings.llm_max_tokens
        )
        return local
    kwargs = model_kwargs(settings)
    try:
        from langchain.chat_models import init_chat_model

        chat_model: BaseChatModel = init_chat_model(model, model_provider=provider, **kwargs)
        return chat_model
    except ImportError as exc:
        package = f"langchain-{provider.replace('_', '-')}"
        raise LLMError(
            f"RAG_LLM={settings.llm} needs the {package} package: run `pip install {package}`"
            f" ({exc})"
        ) from exc
    except Exception as exc:
        raise LLMError(
            f"RAG_LLM={settings.llm}: cannot create this chat model ({_first_line(exc)}); use "
            "provider:model with a LangChain provider, e.g. ollama:llama3.2 or "
            "openai:gpt-4o-mini"
        ) from exc


def llm_error(exc: BaseException, settings: Settings) -> LLMError:
    """A message for a failed model call that names the setting to change."""
    provider = parse_model(settings.llm)[0]
    default = "http://localhost:11434" if provider == "ollama" else f"the {provider} API"
    where = settings.llm_base_url or default
    kind, status = server_failure(exc)
    if kind == "timeout":
        return LLMError(
            f"the LLM ({settings.llm} at {where}) did not answer within "
            f"{settings.llm_timeout:g}s: check that the server is running and not overloaded, "
            "or raise RAG_LLM_TIMEOUT"
        )
    if kind == "unreachable":
        return LLMError(
            f"cannot reach the LLM server at {where} for RAG_LLM={settings.llm}: start the "
            "server (e.g. `ollama serve`) or fix RAG_LLM_BASE_URL"
        )
    if kind == "key":
        return LLMError(
            f"the LLM server at {where} rejected the API key (HTTP {status}): "
            "set RAG_LLM_API_KEY (or OPENAI_API_KEY)"
        )
    if kind == "not found":
        return LLMError(
            f"the LLM server at {where} does not know model {settings.llm!r} (HTTP 404): "
            "fix the model name in RAG_LLM (for ollama: `ollama pull <model>`) "
            "or the path in RAG_LLM_BASE_URL"
        )
    if kind == "http":
        return LLMError(
            f"the LLM server at {where} answered HTTP {status} for RAG_LLM={settings.llm}: "
            f"{_first_line(exc)}; check the server's log, RAG_LLM and RAG_LLM_BASE_URL"
        )
    return LLMError(
        f"the LLM call failed ({type(exc).__name__}: {_first_line(exc)}); "
        f"check RAG_LLM={settings.llm} and RAG_LLM_BASE_URL={settings.llm_base_url!r}"
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else "no details"


# --- checking the reply ----------------------------------------------------------------


def is_decline(reply: str, n_passages: int) -> bool:
    """An empty reply, or one citing nothing that is the decline token or says it in words.

    A reply that cites passages is an answer even if the token shows up in it (a model
    answering part of a question); the token is then removed from the text.
    """
    text = strip_markers(reply)
    if not text or text.upper().strip(" .") == DECLINE:
        return True
    has_citation = any(
        1 <= int(n) <= n_passages
        for group in MARKER_GROUP.findall(reply)
        for n in _NUMBER.findall(group)
    )
    return not has_citation and (DECLINE in text.upper() or bool(_DECLINE_PHRASES.match(text)))


def split_claims(text: str, n_passages: int) -> list[_Claim]:
    """The sentences of ``text`` with the valid passage numbers each cites."""
    claims = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        cited: list[int] = []
        for group in MARKER_GROUP.findall(sentence):
            for number in _NUMBER.findall(group):
                n = int(number)
                if 1 <= n <= n_passages and n not in cited:
                    cited.append(n)
        claims.append(_Claim(sentence, start, end, tuple(cited)))
    return claims


def unstated_facts(statement: str, cited: Sequence[Passage]) -> list[str]:
    """Names and numbers in ``statement`` that none of the cited passages mention."""
    return unstated(statement, [p.text for p in cited]) if cited else []


def _normalise_markers(text: str) -> str:
    """``[2, 3]`` -> ``[2][3]``; markers after a full stop move before it."""

    def split_group(m: re.Match[str]) -> str:
        return "".join(f"[{n}]" for n in _NUMBER.findall(m.group(1)))

    text = MARKER_GROUP.sub(split_group, text)
    text = re.sub(r"\](\s+)\[", "][", text)
    return _TRAILING_MARKERS.sub(lambda m: f" {m.group(2).strip()}{m.group(1)}", text)


def _rewrite_markers(sentence: str, renumbered: dict[int, int]) -> str:
    """Replace each marker by its citation number; drop markers that point nowhere."""
    seen: list[int] = []

    def replace(m: re.Match[str]) -> str:
        new = renumbered.get(int(m.group(1)))
        if new is None or new in seen:
            return ""
        seen.append(new)
        return f"[{new}]"

    out = MARKER.sub(replace, sentence)
    out = re.sub(r"[ \t]+([.,;:!?])", r"\1", out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def _candidates(passage: Passage) -> list[Sentence]:
    """The passage's sentences that can be quoted (headings only if nothing else)."""
    sentences = passage_sentences([passage])
    body = [s for s in sentences if not looks_like_heading(s.text)]
    return body or sentences


def _support(cosine: float, claim_terms: set[str], quote: str) -> float:
    overlap = len(claim_terms & content_terms(quote)) / len(claim_terms) if claim_terms else 0.0
    return 0.75 * cosine + 0.25 * overlap


def _hold_back_decline(pieces: Iterable[str]) -> Iterator[str]:
    """Pass pieces through, except a reply that is (so far) the decline token.

    The token is for us, not the reader: it is held back until the reply turns out to
    be something else, and swallowed if it never does.
    """
    held = ""
    passing = False
    for piece in pieces:
        if passing:
            yield piece
            continue
        held += piece
        head = held.lstrip().upper()
        if DECLINE.startswith(head) or head.startswith(DECLINE):
            continue
        passing = True
        yield held
