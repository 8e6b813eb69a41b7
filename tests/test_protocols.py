"""The extension points: a new answerer or loader is one class and one registration."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rag
from rag import protocols
from rag.chat import RuleRewriter, condense
from rag.config import Settings
from rag.loaders import Loaded, load_file, supported_suffixes
from rag.types import Answer, Article, Passage


class EchoAnswerer:
    """A stand-in: quotes the best passage."""

    name = "echo"

    def __init__(self, pipeline: object) -> None:
        self.pipeline = pipeline

    def generate(
        self,
        question: str,
        query: str,
        passages: list[Passage],
        analysis: object = None,
        main: int | None = None,
    ) -> Iterator[str | Answer]:
        text = passages[0].text if passages else "Nothing found."
        yield text
        yield Answer(text=text, refused=not passages, query=query, answerer=self.name)


class NoteLoader:
    """A stand-in loader for ``.note`` files: the first line is the title."""

    def load(self, path: Path, data: bytes) -> Loaded:
        title, _, body = data.decode().partition("\n")
        return Loaded((("", Article.create(body.strip(), title=title, source="Notes")),))


@pytest.fixture
def registered() -> Iterator[None]:
    protocols.register_answerer("echo")(EchoAnswerer)
    protocols.register_loader(".note")(NoteLoader)
    try:
        yield
    finally:
        protocols.answerers._factories.pop("echo")
        protocols.loaders._factories.pop(".note")


def test_the_built_ins_are_registered() -> None:
    assert protocols.answerers.names()[:2] == ["extractive", "llm"]
    assert (
        protocols.rewriter_for("llm") == "llm" and protocols.rewriter_for("extractive") == "rules"
    )
    assert supported_suffixes()[:3] == (".txt", ".md", ".markdown")


def test_a_registered_answerer_is_a_valid_setting(registered: None) -> None:
    assert Settings.from_env(answerer="echo").answerer == "echo"
    with pytest.raises(rag.ConfigError, match="'extractive' or 'llm' or 'echo'"):
        Settings.from_env(answerer="oracle")


def test_a_registered_loader_reads_its_files(registered: None, tmp_path: Path) -> None:
    path = tmp_path / "memo.note"
    path.write_text("Harbour memo\nThe breakwater is finished.\n")
    article = load_file(path).articles[0][1]
    assert (article.title, article.text, article.source) == (
        "Harbour memo",
        "The breakwater is finished.",
        "Notes",
    )
    assert ".note" in supported_suffixes()


def test_a_builtin_never_replaces_a_users_loader() -> None:
    mine = NoteLoader()
    before = protocols.loaders.get(".txt")
    try:
        protocols.register_loader(".txt")(mine)
        protocols.register_loader(".txt", replace=False)(before)
        assert protocols.loaders.get(".txt") is mine
    finally:
        protocols.loaders.register(".txt", before)


def test_the_rule_rewriter_is_the_rule_based_condense() -> None:
    history = [("Who is the US Secretary of State here?", "Antony Blinken [1].")]
    rewritten = RuleRewriter().rewrite("What did he say about Russia?", history)
    assert rewritten == condense("What did he say about Russia?", history)
    assert "Antony Blinken" in rewritten
    assert isinstance(RuleRewriter(), protocols.QueryRewriter)


def test_the_cli_offers_registered_answerers() -> None:
    # The CLI reads the registry; a plugin's answerer would be offered the same way.
    code = (
        "from rag.protocols import register_answerer\n"
        "register_answerer('echo')(lambda pipeline: None)\n"
        "from rag.cli import main\n"
        "main(['ask', '--help'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "{extractive,llm,echo}" in done.stdout, done.stdout + done.stderr


def test_the_llm_answerer_uses_the_llm_rewriter_from_chat() -> None:
    # chat.py no longer imports the answerers, so llm.py imports chat at module level.
    import rag.answering.llm as llm
    import rag.chat as chat

    assert llm.LLMRewriter is chat.LLMRewriter
