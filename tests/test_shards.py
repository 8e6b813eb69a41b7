"""``rag ingest --shard I/N``: three processes sync one corpus into one real Chroma server.

One of them is killed (SIGKILL) while it stores its chunks and is run again; the end state
must be what one unsharded ingest of the same files stores: the same chunk ids, the same
manifest (articles, chunk counts, origins), and an index that ``Index.check`` passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_index import write_article
from test_server import ChromaServer, env_for

from rag.cli import main as cli
from rag.config import Settings
from rag.errors import ConfigError, IndexNotReadyError, RagError
from rag.index import Index
from rag.loaders import load_file
from rag.shards import Shard
from rag.store import Store

WORDS = ["harbour", "orchard", "glacier", "tramway", "lighthouse", "council", "festival"]
WORDS += ["bridge", "archive", "vineyard", "observatory", "ferry", "quarry", "meadow"]


def body(i: int, sentences: int) -> str:
    """A made-up article body, different for each ``i`` (about 75 characters a sentence)."""
    return " ".join(
        f"Report {i} notes that the {WORDS[(i + j) % len(WORDS)]} near "
        f"{WORDS[(i * 7 + j) % len(WORDS)]} town changed in week {j}."
        for j in range(sentences)
    )


def write_corpus(folder: Path) -> None:
    for i in range(14):
        write_article(folder, f"story-{i:02d}.txt", f"Story {i} of the county", body(i, 40))
    records = [
        {"title": f"Wire item {i}", "body": body(100 + i, 12), "source": "Wire"} for i in range(6)
    ]
    (folder / "wire.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


def doc_ids(folder: Path) -> list[str]:
    return [a.doc_id for path in sorted(folder.iterdir()) for _, a in load_file(path).articles]


def snapshot(settings: Settings) -> tuple[set[str], dict[str, tuple[int, str]]]:
    """(chunk ids, doc id -> (chunks, origins)) of the active generation."""
    store = Store(settings)
    gen = store.state()["active"]
    manifest = store.manifest(gen)
    return set(store.chunk_doc_ids(gen)), {
        d: (int(m["n_chunks"]), str(m["origins"])) for d, m in manifest.items()
    }


def start_shard(url: str, index_dir: Path, corpus: Path, shard: str) -> subprocess.Popen[str]:
    env = {**env_for(url, index_dir), "RAG_BATCH_SIZE": "1"}  # a write every 16 chunks
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", "--json", "-q", "--shard", shard, str(corpus)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return dict(json.loads(out))


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.integration
def test_three_shards_and_a_kill_end_as_one_unsharded_ingest(
    tmp_path: Path,
    server: ChromaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    docs = doc_ids(corpus)
    shards = [Shard(i, 3) for i in (1, 2, 3)]
    owned = {s: [d for d in docs if s.owns(d)] for s in shards}
    assert all(owned.values()), owned  # each shard has articles of its own

    reference = Settings.from_env(index_dir=tmp_path / "reference", corpus_dir=corpus)
    Index(reference).ingest(corpus)  # the unsharded ingest to compare with
    expected_chunks, expected_manifest = snapshot(reference)
    chunks_of = {s: {c for c in expected_chunks if s.owns_chunk(c)} for s in shards}
    victim = max(shards, key=lambda s: len(chunks_of[s]))
    assert len(chunks_of[victim]) > 32, chunks_of  # several writes: there is a middle

    settings = Settings.from_env(index_dir=tmp_path / "probe", chroma_url=server.url)
    gen = Index(settings).generation
    procs = {
        s: start_shard(server.url, tmp_path / f"host-{s.index}", corpus, str(s)) for s in shards
    }
    store = Store(settings)

    def wait_until(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 120
        while not done():
            assert procs[victim].poll() is None, procs[victim].communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"{what} within 120 s"
            time.sleep(0.05)

    def registered() -> bool:
        return len((store.state().get("shards") or {}).get("running") or {}) == 3

    wait_until(registered, "the three shards did not all start")
    # While shards run (their embedding takes seconds), a whole sync and a shard of another
    # partition are refused.
    with pytest.raises(RagError, match=r"a sharded ingest .* is running \(shards .*\d/3"):
        Index(settings).ingest(corpus)
    with pytest.raises(RagError, match="of 3 shards is running"):
        Index(settings).ingest(corpus, shard="1/2")

    wait_until(lambda: bool(set(store.chunk_doc_ids(gen)) & chunks_of[victim]), "no chunk")
    os.kill(procs[victim].pid, signal.SIGKILL)
    procs[victim].wait(timeout=30)
    for s in shards:
        if s != victim:  # each checked its own chunks: none needed storing again
            assert finished(procs[s])["repaired"] == 0
    # It was killed mid-ingest: some of its chunks are stored, not all of its articles.
    assert set(store.chunk_doc_ids(gen)) & chunks_of[victim]
    assert not set(owned[victim]) <= set(store.manifest(gen)), "it had finished storing"
    with pytest.raises(IndexNotReadyError):  # a new index is searched only once complete
        Index(settings).active_generation()
    status = Index(settings).stats()["shards"]
    assert status["gone"] == [str(victim)] and len(status["done"]) == 2, status
    monkeypatch.setenv("RAG_CHROMA_URL", server.url)
    assert cli(["--index", str(tmp_path / "probe"), "stats"]) == 0
    assert f"2 of 3 finished; stopped before finishing: {victim} (run" in capsys.readouterr().out

    rerun = finished(start_shard(server.url, tmp_path / "host-again", corpus, str(victim)))
    # What it stored whole before the kill stays; the rest is embedded now.
    added, kept = set(rerun["added"]), set(rerun["unchanged"])  # type: ignore[call-overload]
    assert added and added | kept == set(owned[victim]) and not added & kept, rerun

    assert snapshot(settings) == (expected_chunks, expected_manifest)
    state = store.state()
    assert state["active"] == gen and state["shards"]["running"] == {}
    assert Index(settings).stats()["shards"]["complete"]
    assert state["shards"]["done"] == [1, 2, 3]
    check = Index(settings).check()
    assert check.ok and check.chunks == len(expected_chunks), check

    # Unchanged: nothing to do. A vanished file is removed by the shard that owns it.
    gone = corpus / "story-03.txt"
    (gone_id,) = (a.doc_id for _, a in load_file(gone).articles)
    gone.unlink()
    reports = {s: Index(settings).ingest(corpus, shard=s) for s in shards}
    assert all(r.embedded == 0 for r in reports.values()), reports
    assert {s: r.removed for s, r in reports.items()} == {
        s: ((gone_id,) if s.owns(gone_id) else ()) for s in shards
    }
    del expected_manifest[gone_id]
    assert snapshot(settings)[1] == expected_manifest
    assert Index(settings).check().ok


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("3/2", "shard 3 of 2 does not exist"),
        ("0/3", "I must be from 1 to N"),
        ("1/0", "N at least 1"),
        ("x", "write it as I/N"),
        ("1-3", "write it as I/N"),
    ],
)
def test_a_bad_shard_is_refused_with_the_fix(
    spec: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match=words):
        Shard.parse(spec)
    assert cli(["ingest", "--shard", spec, "nowhere"]) == 2
    assert words in capsys.readouterr().err


def test_shards_need_a_server_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--index", str(tmp_path / "i"), "ingest", "--shard", "1/2", str(tmp_path)]) == 2
    assert "needs a Chroma server" in capsys.readouterr().err
    assert cli(["ingest", "--shard", "1/2", "--feeds"]) == 2
    assert "cannot be combined with --feeds" in capsys.readouterr().err
    url = Settings.from_env(chroma_url="http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="not URLs"):
        Index(url).ingest(["https://example.com/feed.xml"], shard="1/2")


def test_every_article_belongs_to_exactly_one_shard() -> None:
    ids = [f"{i:016x}" for i in range(0, 10**6, 997)]
    for count in (1, 2, 3, 7):
        owners = [[s for s in range(1, count + 1) if Shard(s, count).owns(d)] for d in ids]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [s] for o in owners) for s in range(1, count + 1)]
        assert min(sizes) > 0.8 * len(ids) / count  # and the parts are about even


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.integration
def test_a_new_generation_by_shards_is_searched_once_all_have_finished(
    tmp_path: Path, server: ChromaServer
) -> None:
    corpus = tmp_path / "corpus"
    for i in range(6):
        write_article(corpus, f"story-{i}.txt", f"Story {i} of the county", body(i, 12))
    old = Settings.from_env(index_dir=tmp_path / "a", chroma_url=server.url)
    Index(old).ingest(corpus)
    old_gen = Store(old).state()["active"]
    before = snapshot(old)

    new = old.replace(chunk_size=400, chunk_overlap=80)  # another generation
    shards = [Shard(i, 3) for i in (1, 2, 3)]
    for s in shards[:2]:
        Index(new).ingest(corpus, shard=s)
        assert Store(new).state()["active"] == old_gen  # still searched: the old one
        assert snapshot(old) == before
    with pytest.raises(IndexNotReadyError, match="chunks 700/150"):
        Index(new).active_generation()
    Index(new).ingest(corpus, shard=shards[2])
    assert Store(new).state()["active"] == Index(new).generation
    assert not any(old_gen in n for n in Store(new).collection_names())  # old one dropped
    reference = Settings.from_env(index_dir=tmp_path / "ref", chunk_size=400, chunk_overlap=80)
    Index(reference).ingest(corpus)
    assert snapshot(new) == snapshot(reference)
    assert Index(new).check().ok
