"""The local LLM: the bundled Qwen GGUF on llama.cpp (`make llm` installs it), and the
synthesis checks with a stand-in cross-encoder.

The end-to-end tests are slow (seconds per answer on 2 cores) and need `make llm`; they
are skipped, saying so, when the model is not installed."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import rag
from rag.answering.citations import Sentence
from rag.answering.synthesis import check, compose
from rag.config import Settings
from rag.errors import LLMError
from rag.local_llm import chatml, model_file
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


# ------------------------------------------------------------------ the real model
def _installed() -> bool:
    if importlib.util.find_spec("ik_llama_cpp") is None:
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
