"""The local LLM: the bundled Qwen GGUF on llama.cpp (`make llm` installs it), and the
synthesis checks with a stand-in cross-encoder.

The end-to-end tests are slow (seconds per answer on 2 cores) and need `make llm`; they
are skipped, saying so, when the model is not installed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import local_llm
from rag.answering.citations import Sentence
from rag.answering.synthesis import check, compose
from rag.config import Settings
from rag.errors import LLMError
from rag.local_llm import LocalModel, chatml, model_file
from rag.text import MARKER
from rag.types import Passage

MULTI = Path(__file__).resolve().parents[1] / "evals" / "multi"


def sentence(text: str, doc: str = "d", start: int = 0) -> Sentence:
    p = Passage(
        text=text,
        score=0.5,
        doc_id=doc,
        title="Strike vote",
        source="Harbor Gazette",
        published=dt.date(2025, 3, 4),
        url="",
        start=start,
        end=start + len(text),
        chunk_id=f"{doc}:0",
    )
    return Sentence(text, start, start + len(text), p, 0)


class WordScorer:
    """A stand-in cross-encoder: the share of the sentence's words found in the quote."""

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        asked = {w.strip(".,").lower() for w in query.split()}
        out = []
        for t in texts:
            found = {w.strip(".,").lower() for w in t.split()}
            out.append(12.0 * len(asked & found) / max(1, len(asked)) - 6.0)
        return np.array(out)


EVIDENCE = [
    sentence("Dockworkers voted 1,840 to 212 on Monday to strike at the port."),
    sentence("The strike begins Thursday at 6 a.m., the union said.", start=80),
]


# ------------------------------------------------------------------ checks (stand-ins)
def test_chatml_is_the_models_own_template() -> None:
    prompt = chatml([("system", "Rules."), ("user", "Question?")])
    assert prompt == (
        "<|im_start|>system\nRules.<|im_end|>\n<|im_start|>user\nQuestion?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_supported_sentences_keep_their_markers_renumbered() -> None:
    reply = "The strike begins Thursday at 6 a.m. [2]. Dockworkers voted 1,840 to 212 [1]."
    checked = check(reply, EVIDENCE, WordScorer())
    assert [c.supported for c in checked] == [True, True]
    text, citations, flagged = compose(checked, EVIDENCE)
    assert text == "The strike begins Thursday at 6 a.m [1]. Dockworkers voted 1,840 to 212 [2]."
    assert [c.quote for c in citations] == [EVIDENCE[1].text, EVIDENCE[0].text]
    assert not flagged


def test_a_missing_marker_is_assigned_from_support() -> None:
    checked = check("Dockworkers voted to strike on Monday.", EVIDENCE, WordScorer())
    assert checked[0].assigned and checked[0].cited == (1,) and checked[0].supported


def test_an_unsupported_sentence_is_flagged_or_dropped() -> None:
    reply = "Dockworkers voted to strike on Monday [1]. The mayor resigned in protest [2]."
    checked = check(reply, EVIDENCE, WordScorer())
    assert [c.supported for c in checked] == [True, False]
    text, _, flagged = compose(checked, EVIDENCE)
    assert flagged == ["The mayor resigned in protest [2]."] and flagged[0] in text
    text, citations, flagged = compose(checked, EVIDENCE, drop_unsupported=True)
    assert "mayor" not in text and len(citations) == 1


def test_a_number_the_quote_does_not_hold_is_unsupported() -> None:
    reply = "Dockworkers voted 1,900 to 212 on Monday to strike at the port [1]."
    assert not check(reply, EVIDENCE, WordScorer())[0].supported


def test_a_marker_pointing_nowhere_is_not_kept() -> None:
    checked = check("Dockworkers voted on Monday to strike [7].", EVIDENCE, WordScorer())
    assert checked[0].cited == (1,) and checked[0].assigned


def test_a_missing_model_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="RAG_LLM_MODEL_PATH"):
        model_file(tmp_path, str(tmp_path / "nothing.gguf"))


def test_damaged_parts_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import local_llm

    part = tmp_path / "part.bin"
    part.write_bytes(b"not a model")
    monkeypatch.setattr(local_llm, "_part", lambda i: part)
    with pytest.raises(LLMError, match="damaged"):
        local_llm.join_parts(tmp_path / "model.gguf")
    assert not (tmp_path / "model.gguf").exists()
    assert not list(tmp_path.glob(".*partial"))


# ------------------------------------------------------------ the runtime adapter (a fake)
class FakeRuntime:
    """A runtime whose model replies with ``reply`` (bytes per token; token 0 ends it) and
    records what it was asked to read and forget. A token is a character's code point."""

    name = "fake"
    n_vocab = 1000
    n_ubatch = 4

    def __init__(self, reply: list[bytes], forget_ok: bool = True) -> None:
        self.reply = reply
        self.forget_ok = forget_ok
        self.decoded: list[tuple[list[int], int]] = []
        self.forgotten: list[int] = []
        self.cleared = 0
        self.fail_at: int | None = None
        self._step = 0

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def piece(self, token: int) -> bytes:
        return self.reply[token - 1]

    def is_eog(self, token: int) -> bool:
        return token == 0

    def decode(self, tokens: list[int], pos: int) -> bool:
        self.decoded.append((list(tokens), pos))
        return self.fail_at is None or pos < self.fail_at

    def logits(self) -> np.ndarray:
        out = np.zeros(self.n_vocab)
        last = self.decoded[-1][0][-1]
        self._step = self._step + 1 if 1 <= last <= len(self.reply) else 1
        out[self._step if self._step <= len(self.reply) else 0] = 1.0
        return out

    def forget(self, keep: int) -> bool:
        self.forgotten.append(keep)
        return self.forget_ok

    def clear(self) -> None:
        self.cleared += 1

    def close(self) -> None:
        pass


def fake_model(monkeypatch: pytest.MonkeyPatch, rt: FakeRuntime) -> LocalModel:
    monkeypatch.setattr(local_llm, "open_runtime", lambda *a: rt)
    return LocalModel(Path("model.gguf"), threads=2, context=512)


def test_the_shared_prefix_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = FakeRuntime([b"O", b"k", b"."])
    model = fake_model(monkeypatch, rt)
    assert "".join(model.generate("system:Q1")) == "Ok."
    assert rt.decoded[0] == ([ord(c) for c in "syst"], 0)  # in batches of n_ubatch
    assert model.last.prompt_tokens == 9 and model.last.cached_tokens == 0
    assert model.last.generated == 3
    rt.decoded.clear()
    assert "".join(model.generate("system:Q2")) == "Ok."
    # Only what follows "system:Q" is read again; the first reply's tokens are forgotten.
    assert rt.forgotten == [8] and rt.decoded[0] == ([ord("2")], 8)
    assert model.last.cached_tokens == 8
    assert model._cached == [ord(c) for c in "system:Q2"] + [1, 2, 3]


def test_without_the_prefix_cache_every_prompt_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = FakeRuntime([b"O", b"k"])
    model = fake_model(monkeypatch, rt)
    list(model.generate("system:Q1"))
    model.prefix_cache = False
    rt.decoded.clear()
    list(model.generate("system:Q2"))
    assert rt.forgotten == [0] and rt.cleared == 2 and rt.decoded[0][1] == 0
    assert model.last.cached_tokens == 0


def test_a_cache_that_cannot_be_cut_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = FakeRuntime([b"O"], forget_ok=False)
    model = fake_model(monkeypatch, rt)
    list(model.generate("system:Q1"))
    rt.decoded.clear()
    list(model.generate("system:Q2"))
    assert rt.cleared == 2 and rt.decoded[0] == ([ord(c) for c in "syst"], 0)


def test_a_character_split_across_tokens_is_shown_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    e = "é".encode()
    rt = FakeRuntime([b"Caf", e[:1], e[1:], b"!"])
    pieces = list(fake_model(monkeypatch, rt).generate("q"))
    assert pieces == ["Caf", "é", "!"]


def test_a_stop_string_ends_the_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = FakeRuntime([b"Yes", b".", b"\nQ", b"uestion"])
    model = fake_model(monkeypatch, rt)
    assert list(model.generate("q", stop=["\nQuestion"])) == ["Yes", "."]
    # What only began like a stop string is shown once the reply ends.
    model.runtime = FakeRuntime([b"Yes", b"\nQ"])
    assert "".join(model.generate("q", stop=["\nQuestion"])) == "Yes\nQ"


def test_a_prompt_the_model_cannot_read_fails_and_resets_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = FakeRuntime([b"O"])
    model = fake_model(monkeypatch, rt)
    rt.fail_at = 4
    with pytest.raises(LLMError, match="failed to read"):
        list(model.generate("system:Q1"))
    assert model._cached == []


def test_a_too_long_prompt_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    model = fake_model(monkeypatch, FakeRuntime([b"O"]))
    with pytest.raises(LLMError, match="RAG_LLM_CONTEXT"):
        list(model.generate("x" * 510, max_tokens=10))


def test_the_first_installed_runtime_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    monkeypatch.setattr(
        local_llm,
        "RUNTIMES",
        {
            "missing": ("no_such_module_here", lambda *a: made.append("missing")),
            "present": ("json", lambda *a: made.append("present")),
        },
    )
    assert local_llm.installed_runtime() == "present"
    local_llm.open_runtime(Path("m.gguf"), 2, 64)
    assert made == ["present"]
    monkeypatch.setattr(local_llm, "RUNTIMES", {"missing": ("no_such_module_here", None)})
    assert local_llm.installed_runtime() is None
    with pytest.raises(LLMError, match="make llm"):
        local_llm.open_runtime(Path("m.gguf"))


# ------------------------------------------------------------------ the real model
def _installed() -> bool:
    if local_llm.installed_runtime() is None:
        return False
    try:
        model_file(Settings.from_env().cache_dir)
    except LLMError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _installed(), reason="the local LLM is not installed: make llm"
)


@pytest.fixture(scope="module")
def local_seed(seed_settings: Settings) -> Settings:
    return seed_settings.replace(answerer="llm", llm="local", llm_max_tokens=60)


@pytest.fixture(scope="module")
def local_multi(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("multi-llm")
    s = Settings.from_env(index_dir=tmp / "index", corpus_dir=MULTI)
    rag.ingest([MULTI], settings=s)
    return s.replace(answerer="llm", llm="local", llm_max_tokens=60)


def check_citations(a: rag.Answer, s: Settings) -> None:
    assert {int(n) for n in MARKER.findall(a.text)} <= {c.n for c in a.citations}
    for c in a.citations:
        assert rag.get_article(c.doc_id, settings=s).text[c.start : c.end] == c.quote


@pytest.mark.slow
@needs_model
def test_seed_question_gets_a_cited_synthesis(local_seed: Settings) -> None:
    pieces = list(rag.stream("Why was the launch's timing notable?", settings=local_seed))
    final = pieces[-1]
    assert isinstance(final, rag.Answer) and not final.refused
    assert final.answerer == "llm" and final.citations
    assert all(isinstance(p, str) for p in pieces[:-1]) and len(pieces) > 2  # it streamed
    check_citations(final, local_seed)
    assert "Blinken" in final.text or "transition" in final.text


@pytest.mark.slow
@needs_model
def test_yes_no_over_two_articles(local_multi: Settings) -> None:
    a = rag.answer(
        "Did both the Valley Ledger and the Tidewater Times mention the Port of Santa Leona?",
        settings=local_multi,
    )
    assert not a.refused and a.text.split()[0].rstrip(".,") in ("Yes", "No")
    check_citations(a, local_multi)
    # Every sentence shipped is supported or listed as unsupported.
    assert all(s in a.text for s in a.unsupported)


@pytest.mark.slow
@needs_model
def test_unanswerable_is_refused_before_the_model_runs(local_seed: Settings) -> None:
    from rag import local_llm

    before = {k: m._cached[:] for k, m in local_llm._MODELS.items()}
    a = rag.answer("Who won the 2022 World Cup final?", settings=local_seed)
    assert a.refused and not a.citations
    assert {k: m._cached for k, m in local_llm._MODELS.items()} == before


@pytest.mark.slow
@needs_model
def test_a_cached_prefix_gives_the_answer_a_whole_read_gives() -> None:
    """The key/value cache cut after the shared prefix (``forget``) leaves the same state
    as reading the prompt afresh: greedy replies are the same, and the second prompt reads
    only what follows the prefix."""
    model = local_llm.load(model_file(Settings.from_env().cache_dir), threads=2)
    system = ("system", "Answer in one short sentence. " * 6)
    first = chatml([system, ("user", "What is the capital of France?")])
    second = chatml([system, ("user", "What is the capital of Italy?")])
    list(model.generate(first, max_tokens=12))
    cached = "".join(model.generate(second, max_tokens=12))
    assert model.last.cached_tokens > 40
    model.prefix_cache = False
    try:
        whole = "".join(model.generate(second, max_tokens=12))
    finally:
        model.prefix_cache = True
    assert model.last.cached_tokens == 0
    assert cached == whole and "Rome" in whole
