"""RAG_EMBEDDINGS: ingest embedded by a server, questions by the local model.

The server is a real HTTP server on 127.0.0.1 speaking OpenAI's ``/v1/embeddings`` (and
Ollama's ``/api/embed``), whose vectors are computed by the real local model, as a GPU
server running all-MiniLM-L6-v2 would. A server running another model must never put its
vectors next to the local model's.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_settings
from fake_openai import FakeOpenAI
from langchain_core.embeddings import Embeddings
from test_index import write_article

import rag
from rag.chunking import chunk_article, sentence_spans
from rag.config import Settings
from rag.embed_remote import PROBE
from rag.errors import EmbeddingError, IndexNotReadyError
from rag.index import Index, embedding_text
from rag.models import get_embedder
from rag.store import Store
from rag.types import doc_id_of

ARTICLES = {
    "lighthouse.txt": (
        "Lighthouse keeper retires after forty years",
        "Marguerite Olsen kept the Skerryvore lighthouse for forty years. "
        "She retired on Friday and handed the lamp to her grandson.",
    ),
    "tramway.txt": (
        "Funicular tramway reopens in Valparaiso",
        "The Artilleria funicular in Valparaiso reopened after a six-month restoration. "
        "Engineers rebuilt the wooden cars and replaced the haulage cable.",
    ),
    "glacier.txt": (
        "Glacier archive finds medieval pollen",
        "Scientists drilling the Quelccaya glacier found pollen from the fourteenth century. "
        "The ice core is stored in a freezer in Columbus.",
    ),
}


def local_vectors(texts: list[str]) -> list[list[float]]:
    """What a server running all-MiniLM-L6-v2 returns: the local model's own vectors."""
    return [[float(x) for x in v] for v in get_embedder("all-MiniLM-L6-v2").encode(texts)]


def other_model(texts: list[str]) -> list[list[float]]:
    """Another model of the same dimension: the local vectors with their axes shuffled."""
    order = np.random.default_rng(7).permutation(384)
    return [[float(x) for x in np.asarray(v)[order]] for v in local_vectors(texts)]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    for name, (title, body) in ARTICLES.items():
        write_article(folder, name, title, body)
    return folder


@pytest.fixture(autouse=True)
def _model_loaded() -> None:
    """Load the local model before a server needs it, not within a client's timeout."""
    local_vectors(["load the model"])


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(embed=local_vectors) as srv:
        yield srv


def remote(tmp_path: Path, url: str, spec: str = "openai:all-MiniLM-L6-v2", **kw: Any) -> Settings:
    return make_settings(
        tmp_path, embeddings=spec, embeddings_base_url=url, embeddings_timeout=10.0, **kw
    )


def stored_vectors(settings: Settings) -> dict[str, tuple[str, np.ndarray]]:
    """chunk id -> (its text, its stored vector) in the active generation."""
    store = Store(settings)
    gen = store.state()["active"]
    col = store.collection(Store.chunks_name(gen), create=False)
    got = col.get(include=["embeddings", "documents"])
    return {
        cid: (doc, np.asarray(vec))
        for cid, doc, vec in zip(got["ids"], got["documents"], got["embeddings"], strict=True)
    }


def test_ingest_through_an_openai_server_then_questions_with_the_local_model(
    tmp_path: Path, corpus: Path, server: FakeOpenAI
) -> None:
    settings = remote(tmp_path, server.url, embeddings_same_as_local=True)
    own = get_embedder(settings.embed_model, settings.batch_size, settings.cache_dir)
    calls = own.calls
    report = rag.ingest(corpus, settings=settings)
    assert len(report.added) == 3 and report.embedded == 3, report
    # The server embedded every passage and its sentences, after the probe that checks it
    # runs the local model; locally only the probe was embedded.
    assert server.embedded[0] == PROBE and own.calls == calls + 1
    for cid, (text, _) in stored_vectors(settings).items():
        article = Index(settings).get_article(doc_id_of(cid))
        chunk = next(c for c in chunk_article(article, 700, 150) if c.text == text)
        sentences = {text[a:b] for a, b in sentence_spans(text)}
        assert {embedding_text(article, chunk), *sentences} <= set(server.embedded)

    local = make_settings(tmp_path)  # no RAG_EMBEDDINGS: what a serving process has
    assert Index(local).generation == Index(settings).generation
    hits = rag.retrieve("Who kept the Skerryvore lighthouse?", k=1, settings=local)
    assert hits[0].title == "Lighthouse keeper retires after forty years"
    # The sentence vectors stored with it (the server's) are the local model's too.
    spans = sentence_spans(hits[0].text)
    ours = own.encode([hits[0].text[a:b] for a, b in spans])
    assert np.min(np.sum(ours * hits[0].sentence_vectors, axis=1)) > 0.99
    hits = rag.retrieve("funicular restoration in Chile", k=1, settings=local)
    assert hits[0].title == "Funicular tramway reopens in Valparaiso"
    before = len(server.embedded)
    rag.retrieve("ice core pollen", k=1, settings=settings)  # questions stay local
    assert len(server.embedded) == before

    # The stored vectors are the local model's vectors of the embedded text.
    local_index = Index(local)
    for cid, (text, vector) in stored_vectors(local).items():
        article = local_index.get_article(doc_id_of(cid))
        chunk = next(c for c in chunk_article(article, 700, 150) if c.text == text)
        ours = local_index.embedder.encode([embedding_text(article, chunk)])[0]
        assert float(ours @ vector) > 0.999


def test_ollama_and_any_langchain_embeddings_class(
    tmp_path: Path, corpus: Path, server: FakeOpenAI
) -> None:
    settings = remote(tmp_path, server.root, "ollama:all-minilm", embeddings_same_as_local=True)
    assert len(rag.ingest(corpus, settings=settings).added) == 3
    assert server.embedded[0] == PROBE
    assert any(t.startswith("Glacier archive finds medieval pollen") for t in server.embedded)

    write_article(corpus, "extra.txt", "Beekeepers count hives", "The hive census found bees.")
    spec = f"{__name__}:LocalMiniLM"
    imported = make_settings(tmp_path, embeddings=spec, embeddings_same_as_local=True)
    report = rag.ingest(corpus, settings=imported)
    assert len(report.added) == 1 and len(report.unchanged) == 3, report
    assert any(t.startswith("Beekeepers count hives") for t in LocalMiniLM.texts)
    hits = rag.retrieve("hive census", k=1, settings=make_settings(tmp_path))
    assert hits[0].title == "Beekeepers count hives"


class LocalMiniLM(Embeddings):
    """A LangChain Embeddings of the test's own: RAG_EMBEDDINGS=module:Class builds it."""

    texts: list[str] = []  # noqa: RUF012 - every instance records into one list

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        LocalMiniLM.texts.extend(texts)
        return local_vectors(texts)

    def embed_query(self, text: str) -> list[float]:
        return local_vectors([text])[0]


def test_a_server_declared_the_local_model_that_is_not_is_refused_before_storing(
    tmp_path: Path, corpus: Path
) -> None:
    with FakeOpenAI(embed=other_model) as srv:
        settings = remote(tmp_path, srv.url, embeddings_same_as_local=True)
        with pytest.raises(EmbeddingError, match="does not reproduce the local model"):
            rag.ingest(corpus, settings=settings)
        assert len(srv.embedded) == 1  # only the probe
    store = Store(settings)
    assert not store.state().get("active")
    gens = [n for n in store.collection_names() if n.endswith("-chunks")]
    assert all(store.count(n.removeprefix("rag-").removesuffix("-chunks"))[1] == 0 for n in gens)


def test_another_model_builds_its_own_generation_and_never_mixes(
    tmp_path: Path, corpus: Path
) -> None:
    local = make_settings(tmp_path)
    assert len(rag.ingest(corpus, settings=local).added) == 3
    gen_a = Store(local).state()["active"]

    with FakeOpenAI(embed=other_model) as srv:
        settings = remote(tmp_path, srv.url, "openai:other-model")
        assert Index(settings).generation != gen_a
        report = rag.ingest(corpus, settings=settings)
        assert report.embedded == 3 and report.unchanged, report
        state = Store(settings).state()
        assert state["active"] != gen_a and state["model"] == "openai:other-model"
        names = Store(settings).collection_names()
        assert not any(gen_a in n for n in names), names  # model A's vectors are gone
        # Every stored vector is model B's (what the server returned, normalised).
        served = {
            t: np.asarray(v) for t, v in zip(srv.embedded, other_model(srv.embedded), strict=True)
        }
        stored = [v for _, v in stored_vectors(settings).values()]
        assert all(any(float(v @ s) > 0.999 for s in served.values()) for v in stored)

        # Questions of this index are embedded by the server's model too.
        before = len(srv.embedded)
        hits = rag.retrieve("Who kept the Skerryvore lighthouse?", k=1, settings=settings)
        assert len(srv.embedded) == before + 1 and hits

    # A process with only the local model refuses the index instead of mixing models.
    with pytest.raises(IndexNotReadyError, match="RAG_EMBEDDINGS=openai:other-model"):
        Index(local).active_generation()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failing_or_unreachable_server_changes_nothing_stored(
    tmp_path: Path, corpus: Path, server: FakeOpenAI
) -> None:
    settings = remote(tmp_path, server.url, embeddings_same_as_local=True)
    rag.ingest(corpus, settings=settings)
    before = stored_vectors(settings)
    (corpus / "glacier.txt").unlink()  # a removal and an addition wait for the embedding
    write_article(corpus, "bees.txt", "Beekeepers count hives", "The hive census found bees.")

    def unchanged() -> None:
        assert stored_vectors(settings).keys() == before.keys()
        assert len(Index(settings).store.manifest(Store(settings).state()["active"])) == 3

    server.embed_status = 500
    with pytest.raises(EmbeddingError, match=r"failed for RAG_EMBEDDINGS=openai.*run the same"):
        rag.ingest(corpus, settings=settings)
    unchanged()

    dead = remote(tmp_path, f"http://127.0.0.1:{free_port()}/v1", embeddings_same_as_local=True)
    with pytest.raises(EmbeddingError, match="cannot reach the embedding server at http://"):
        rag.ingest(corpus, settings=dead)
    unchanged()
    hits = rag.retrieve("ice core pollen", k=1, settings=make_settings(tmp_path))
    assert hits[0].title == "Glacier archive finds medieval pollen"

    server.embed_status = 200
    report = rag.ingest(corpus, settings=settings)
    assert len(report.added) == 1 and len(report.removed) == 1, report
    assert Index(settings).check().ok
