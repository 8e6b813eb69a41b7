"""Ingest as a sync, against real Chroma in a temporary folder and the real embedder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SEED, make_settings

import rag
from rag.chunking import chunk_article
from rag.config import Settings
from rag.index import Index
from rag.models import resolve_embedder
from rag.store import SENTENCES_FIELD, pack_vectors, unpack_vectors


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"{title}\nThe Test Herald 02-03-2024\n{body}\n", encoding="utf-8")
    return path


BODIES = {
    "harbour.txt": (
        "Harbour bridge reopens",
        "The harbour bridge reopened on Monday after two years of repairs. "
        "Engineers replaced every cable and repainted the towers.",
    ),
    "orchard.txt": (
        "Orchard harvest breaks record",
        "Apple growers in the valley picked a record crop this autumn. "
        "Cold nights in spring protected the blossom.",
    ),
    "chess.txt": (
        "Teenager wins chess title",
        "A fifteen-year-old won the national chess championship in Oslo. "
        "She beat the defending champion in the final round.",
    ),
}


def populate(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (title, body) in BODIES.items():
        write_article(folder, name, title, body)


def consistency(index: Index) -> tuple[int, int]:
    """Assert the invariants of a stored generation; return (articles, chunks)."""
    gen = index.active_generation()
    manifest = index.store.manifest(gen)
    chunk_docs = index.store.chunk_doc_ids(gen)
    counts: dict[str, int] = {}
    for doc in chunk_docs.values():
        counts[doc] = counts.get(doc, 0) + 1
    assert set(counts) == set(manifest), (
        "chunks without a manifest entry, or articles without chunks"
    )
    for doc, meta in manifest.items():
        assert counts[doc] == meta["n_chunks"], doc
    return len(manifest), len(chunk_docs)


def test_seed_article_offsets_are_exact(seed_settings: Settings) -> None:
    index = Index(seed_settings)
    gen = index.active_generation()
    (doc_id,) = index.store.manifest(gen)
    article = rag.get_article(doc_id, settings=seed_settings)
    assert article.title == "North Korea Launches Missile Amid Blinken visit to Seoul"
    assert article.published is not None and article.published.isoformat() == "2024-01-06"
    assert article.text in SEED.read_text(encoding="utf-8")
    seen = 0
    for _ids, texts, metas in index.store.iter_chunks(gen):
        for text, meta in zip(texts, metas, strict=True):
            assert article.text[meta["start"] : meta["end"]] == text
            assert meta["title"] == article.title and meta["published_num"] == 20240106
            seen += 1
    assert seen == len(
        chunk_article(article, seed_settings.chunk_size, seed_settings.chunk_overlap)
    )
    assert seen > 3


def test_retrieve_finds_missile_distance(seed_settings: Settings) -> None:
    passages = rag.retrieve("How far did the missile fly?", k=3, settings=seed_settings)
    assert "1,100 kilometers" in passages[0].text
    top = passages[0]
    article = rag.get_article(top.doc_id, settings=seed_settings)
    assert article.text[top.start : top.end] == top.text
    assert top.source.startswith("Department of Research")
    assert 0 < top.score <= 1


def test_sync_add_unchanged_update_remove(settings: Settings) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    index = Index(settings)
    index.embedder.forget_recent()  # texts another test embedded would not count again
    calls = index.embedder.calls

    first = index.ingest([corpus])
    assert len(first.added) == 3 and not first.skipped
    assert index.embedder.calls - calls == first.embedded + stored_sentences(index) > 0
    assert consistency(index)[0] == 3

    calls = index.embedder.calls
    again = index.ingest([corpus])
    assert index.embedder.calls == calls, "an unchanged corpus must embed nothing"
    assert len(again.unchanged) == 3 and not (again.added or again.updated or again.removed)

    write_article(corpus, "chess.txt", "Teenager wins chess title", "She won again in a rematch.")
    index.embedder.forget_recent()
    calls = index.embedder.calls
    upd = index.ingest([corpus])
    assert len(upd.updated) == 1 and len(upd.unchanged) == 2 and not upd.removed
    assert index.embedder.calls - calls == 2  # the passage and its one sentence
    assert consistency(index)[0] == 3

    (corpus / "orchard.txt").unlink()
    rem = index.ingest([corpus])
    assert len(rem.removed) == 1 and len(rem.unchanged) == 2
    assert consistency(index)[0] == 2
    assert all("Orchard" not in p.title for p in index_search(settings, "apple harvest"))


def stored_sentences(index: Index) -> int:
    """The distinct sentences of the stored chunks (each embedded once at ingest)."""
    from rag.chunking import sentence_spans

    texts = {
        text[s:e]
        for _ids, docs, _metas in index.store.iter_chunks(index.active_generation())
        for text in docs
        for s, e in sentence_spans(text)
    }
    return len(texts)


def index_search(settings: Settings, q: str) -> list[rag.Passage]:
    return rag.retrieve(q, k=5, settings=settings)


def test_duplicate_content_is_stored_once(settings: Settings) -> None:
    populate(settings.corpus_dir)
    copy = settings.corpus_dir / "copies"
    copy.mkdir()
    shutil.copy(settings.corpus_dir / "chess.txt", copy / "chess-again.txt")
    index = Index(settings)
    report = index.ingest([settings.corpus_dir])
    assert len(report.added) == 3
    assert consistency(index)[0] == 3
    # Removing one copy keeps the article: it still has an origin.
    (copy / "chess-again.txt").unlink()
    report = index.ingest([settings.corpus_dir])
    assert not report.removed and consistency(index)[0] == 3


def test_syncing_one_folder_never_removes_another(settings: Settings, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    populate(a)
    write_article(
        b, "other.txt", "Museum opens", "The city museum opened a new wing of Roman coins."
    )
    index = Index(settings)
    index.ingest([a])
    index.ingest([b])
    (b / "other.txt").unlink()
    report = index.ingest([a])
    assert not report.removed and consistency(index)[0] == 4
    report = index.ingest([b])
    assert len(report.removed) == 1 and consistency(index)[0] == 3


def test_bad_input_is_skipped_and_reported(settings: Settings) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    index = Index(settings)
    index.ingest([corpus])
    (corpus / "empty.txt").write_text("")
    (corpus / "blob.txt").write_bytes(bytes(range(256)) * 10)
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04 not really")
    (corpus / "feed.jsonl").write_text(
        json.dumps({"title": "Rail strike ends", "body": "Train drivers returned to work."})
        + "\n{not json\n"
        + json.dumps({"title": "Snow closes pass", "body": "The mountain pass closed after snow."})
        + "\n"
    )
    legacy = "Caf\u00e9 owners protest\nLe Petit Journal 05-04-2024\n"
    legacy += "The caf\u00e9 owners \u201cwon\u2019t\u201d pay."
    (corpus / "legacy.txt").write_bytes(legacy.encode("cp1252"))
    missing = corpus / "nope"
    report = index.ingest([corpus, missing])
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["blob.txt"]
    assert "unsupported" in reasons["notes.docx"]
    assert "line 2" in reasons["feed.jsonl"]
    assert "no such file" in reasons["nope"]
    assert len(report.added) == 3  # two feed records and the cp1252 file
    assert len(report.unchanged) == 3
    assert consistency(index)[0] == 6
    hits = [p for p in index_search(settings, "cafe owners protest") if "Caf" in p.title]
    assert hits and hits[0].title == "Caf\u00e9 owners protest"
    assert "\u201cwon\u2019t\u201d" in hits[0].text


def test_changing_the_embedding_model_builds_a_new_collection(
    settings: Settings, tmp_path: Path
) -> None:
    populate(settings.corpus_dir)
    extra = tmp_path / "extra"
    write_article(
        extra, "museum.txt", "Museum opens", "The city museum opened a new wing of Roman coins."
    )
    old = Index(settings)
    old.ingest([settings.corpus_dir])
    old.ingest([extra])
    old_gen = old.active_generation()

    # Same weights, named by path: a different model as far as the index can tell.
    other = make_settings(
        settings.index_dir.parent, embed_model=str(resolve_embedder("all-MiniLM-L6-v2"))
    )
    new = Index(other)
    assert new.generation != old_gen
    with pytest.raises(rag.IndexNotReadyError, match="built with embedding model"):
        rag.retrieve("harbour bridge", settings=other)
    new.embedder.forget_recent()
    calls = new.embedder.calls
    report = new.ingest([settings.corpus_dir])
    assert new.embedder.calls - calls == report.embedded + stored_sentences(new) > 0
    assert new.active_generation() == new.generation
    assert consistency(new)[0] == 4, "articles from elsewhere are carried over"
    names = new.store.collection_names()
    assert not any(old_gen in n for n in names), names
    with pytest.raises(rag.IndexNotReadyError):
        Index(settings).active_generation()


def test_stats(seed_settings: Settings) -> None:
    stats = rag.stats(settings=seed_settings)
    assert stats["articles"] == 1 and stats["chunks"] > 3
    assert stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert stats["last_sync"]


def test_empty_index_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(rag.IndexNotReadyError, match="rag ingest"):
        rag.retrieve("anything", settings=settings)


def test_one_sync_at_a_time(settings: Settings) -> None:
    import subprocess
    import sys

    populate(settings.corpus_dir)
    index = Index(settings)
    index.ingest([settings.corpus_dir])
    # Another process holds the ingest lock (as a running sync does) until told to stop.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from rag.files import file_lock\n"
            "with file_lock(Path(sys.argv[1]), owner='holder'):\n"
            "    print('held', flush=True); sys.stdin.read()\n",
            str(settings.index_dir / "ingest.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        write_article(settings.corpus_dir, "kite.txt", "Kite festival", "Kites filled the sky.")
        with pytest.raises(rag.RagError, match=r"another ingest .* is running \(holder\)"):
            index.ingest([settings.corpus_dir])
    finally:
        holder.kill()
        holder.wait()
    # A lock whose holder is gone (killed, even) is free again: the kernel released it.
    report = index.ingest([settings.corpus_dir])
    assert len(report.added) == 1 and len(report.unchanged) == 3
    assert not index.store.state().get("syncing")
    assert consistency(index)[0] == 4


def ingest_in_new_process(settings: Settings) -> dict[str, Any]:
    import subprocess
    import sys

    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
    }
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", "--json", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def test_unchanged_resync_does_not_open_chroma(settings: Settings, tmp_path: Path) -> None:
    """Repeating a sync with nothing changed answers from the sync stamp, in a new process."""
    import subprocess
    import sys

    populate(settings.corpus_dir)
    rag.ingest(settings=settings)
    rag.answer("When did the harbour bridge reopen?", settings=settings)  # reads do not count
    script = (
        "import json, sys, rag\n"
        "report = rag.ingest()\n"
        "print(json.dumps({'unchanged': len(report.unchanged), 'embedded': report.embedded,"
        " 'chromadb': 'chromadb' in sys.modules}))\n"
    )
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(settings.index_dir),
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "unchanged": 3,
        "embedded": 0,
        "chromadb": False,
    }


def test_the_sync_stamp_never_hides_a_change(settings: Settings, tmp_path: Path) -> None:
    corpus = settings.corpus_dir
    populate(corpus)
    index = Index(settings)
    index.ingest([corpus])
    gen = index.generation

    # Another process wrote to the store: the sync runs in full and repairs the gap.
    doc = next(iter(index.store.manifest(gen)))
    index.store.delete_articles(gen, [doc])
    report = index.ingest([corpus])
    assert report.added == (doc,) and report.embedded > 0
    assert consistency(index)[0] == 3

    # The store is restored from an older copy: a new database file, so a full sync. (In a
    # new process: Chroma keeps the files of a store it opened, as any process would.)
    backup = tmp_path / "backup"
    shutil.copytree(settings.index_dir / "chroma", backup)
    write_article(corpus, "chess.txt", "Teenager wins chess title", "She won again in a rematch.")
    assert len(index.ingest([corpus]).updated) == 1
    shutil.rmtree(settings.index_dir / "chroma")
    shutil.copytree(backup, settings.index_dir / "chroma")
    assert len(ingest_in_new_process(settings)["updated"]) == 1
    assert len(ingest_in_new_process(settings)["unchanged"]) == 3
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # let this process open the restored files
    index = Index(settings)
    assert consistency(index)[0] == 3

    # A new file, a file gone, a damaged stamp: each is a full sync with the right result.
    write_article(corpus, "kite.txt", "Kite festival", "Hundreds of kites filled the sky.")
    assert len(index.ingest([corpus]).added) == 1
    (corpus / "kite.txt").unlink()
    assert len(index.ingest([corpus]).removed) == 1
    (settings.index_dir / "sync-stamp.json").write_text("{not json")
    assert len(index.ingest([corpus]).unchanged) == 3

    # And with nothing changed it does not touch Chroma at all.
    def no_chroma(*_: object, **__: object) -> None:
        raise AssertionError("an unchanged sync opened Chroma")

    index.store.state = no_chroma  # type: ignore[method-assign]
    assert len(index.ingest([corpus]).unchanged) == 3


def test_passages_carry_their_sentence_vectors(seed_settings: Settings) -> None:
    """Sentence vectors are stored at ingest and equal the embedder's own; answering then
    embeds only the question, never the retrieved passages' sentences."""
    from rag.chunking import sentence_spans
    from rag.pipeline import get_pipeline

    pipeline = get_pipeline(seed_settings)
    passages = pipeline.retriever.retrieve("How far did the missile fly?", 4)
    embedder = pipeline.index.embedder
    for p in passages:
        spans = sentence_spans(p.text)
        assert p.sentence_vectors is not None and p.sentence_vectors.shape == (len(spans), 384)
        fresh = embedder.encode([p.text[s:e] for s, e in spans])
        cosines = np.sum(fresh * p.sentence_vectors, axis=1)
        assert cosines.min() > 0.999, cosines
    assert "sentence_vectors" not in passages[0].to_dict()
    embedder.forget_recent()
    before = embedder.calls
    answer = rag.answer("How far did the missile fly?", settings=seed_settings)
    assert "1,100 kilometers" in answer.text
    assert embedder.calls - before == 1  # the question
    json.dumps(answer.to_dict())  # no arrays in the dict form


def test_vectors_pack_and_unpack() -> None:
    rows = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    back = unpack_vectors(pack_vectors(rows))
    assert back is not None and back.shape == (3, 8) and np.abs(back - rows).max() < 1e-3
    for junk in (None, "", "8:", "x:AAAA", "3:AAAA", "8:not base64!"):
        assert unpack_vectors(junk) is None, junk


def test_an_index_without_sentence_vectors_still_answers(settings: Settings) -> None:
    """Chunks stored without sentence vectors (an index from before they existed) are
    answered by embedding their sentences, as before."""
    shutil.copy(SEED, settings.corpus_dir / SEED.name)
    rag.ingest(settings=settings)
    index = Index(settings)
    col = index.store.collection(index.store.chunks_name(index.active_generation()))
    ids = col.get(include=[])["ids"]
    col.update(ids=ids, metadatas=[{SENTENCES_FIELD: ""}] * len(ids))
    passages = rag.retrieve("How far did the missile fly?", k=3, settings=settings)
    assert all(p.sentence_vectors is None for p in passages)
    from rag.pipeline import get_pipeline

    embedder = get_pipeline(settings).index.embedder
    embedder.forget_recent()
    before = embedder.calls
    answer = rag.answer("How far did the missile fly?", settings=settings)
    assert "1,100 kilometers" in answer.text
    assert embedder.calls - before > 1  # the question and the passages' sentences
    # `rag check` (and `rag ingest --repair`) gives them their vectors, keeping the rest.
    report = index.check()
    assert report.ok and report.sentence_vectors == len(ids), report
    assert "given their sentence vectors" in report.summary()
    assert index.check().sentence_vectors == 0
    passages = rag.retrieve("How far did the missile fly?", k=3, settings=settings)
    assert all(p.sentence_vectors is not None and p.title for p in passages)
    embedder.forget_recent()
    before = embedder.calls
    again = rag.answer("How far did the missile fly?", settings=settings)
    assert again.text == answer.text and embedder.calls - before == 1


def test_the_state_is_read_again_only_after_a_write(settings: Settings) -> None:
    """Searches do not pay for reading the state record; any write, by this process or
    another, makes the next read go to Chroma again."""
    from rag.store import Store

    shutil.copy(SEED, settings.corpus_dir / SEED.name)
    rag.ingest(settings=settings)
    mine, other = Store(settings), Store(settings)  # another process's view of the same folder
    calls = 0
    real = mine._call

    def counted(fn: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(fn, *args)

    mine._call = counted  # type: ignore[method-assign]
    first = mine.state()
    assert calls >= 1 and first.get("active")
    calls = 0
    assert mine.state() == first and calls == 0
    other.set_state(revision=int(first.get("revision", 0)) + 7)
    assert mine.state()["revision"] == int(first.get("revision", 0)) + 7 and calls >= 1


def test_preload_loads_the_models_in_the_background(seed_settings: Settings) -> None:
    from rag.pipeline import Pipeline

    pipeline = Pipeline(seed_settings)
    thread = pipeline.preload()
    answer = pipeline.answer("How far did the missile fly?")  # meanwhile, on this thread
    thread.join(60)
    assert not thread.is_alive()
    assert pipeline.reranker._session is not None and pipeline.embedder.onnx() is not None
    assert "1,100 kilometers" in answer.text
