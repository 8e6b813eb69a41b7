"""Faults: vectors lost from Chroma's search index, kill -9 mid-sync, a full disk, a Chroma
server killed mid-ingest, damaged and read-only stores. Real model, real Chroma, real
processes; ``rag check`` (and the check after every sync) must find and repair the loss."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_crash import IngestProcess
from test_index import consistency
from test_server import ChromaServer, env_for, free_port

import rag
from rag.config import Settings
from rag.index import Index
from rag.store import Store

WORDS = [
    "harbour",
    "bridge",
    "council",
    "budget",
    "river",
    "school",
    "museum",
    "railway",
    "festival",
    "orchard",
    "storm",
    "election",
    "hospital",
    "library",
    "stadium",
    "airport",
    "factory",
    "market",
    "theatre",
    "garden",
    "mountain",
    "village",
    "ferry",
    "tunnel",
    "canal",
    "vineyard",
    "glacier",
    "island",
    "forest",
    "desert",
    "valley",
    "coast",
]


def synthetic_corpus(path: Path, articles: int, seed: int, paragraphs: int = 6) -> None:
    """A JSONL feed of made-up articles, distinct enough that every chunk differs."""
    rng = random.Random(seed)
    lines = []
    for n in range(articles):
        body = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + f" (story {seed}-{n})."
            for _ in range(paragraphs)
        )
        lines.append(
            json.dumps({"title": f"Story {seed}-{n}", "body": body, "url": f"u{seed}/{n}"})
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def small_settings(tmp: Path, **extra: Any) -> Settings:
    return Settings.from_env(
        index_dir=tmp / "index", corpus_dir=tmp / "docs", chunk_size=200, chunk_overlap=0, **extra
    )


def small_env(settings: Settings) -> dict[str, str]:
    return {
        **env_for(settings.chroma_url, settings.index_dir),
        "RAG_CHUNK_SIZE": str(settings.chunk_size),
        "RAG_CHUNK_OVERLAP": str(settings.chunk_overlap),
        "RAG_BATCH_SIZE": "8",
    }


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        env=small_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
    )


def fresh_index(settings: Settings) -> Index:
    """An Index that opens the store as it is on disk now (as a new process would)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return Index(settings)


def lost_by_dense_search(index: Index) -> int:
    """How many stored chunks a whole-collection query misses (the issue's first symptom)."""
    col = index.store.collection(index.store.chunks_name(index.active_generation()))
    n = col.count()
    probe = [1.0] + [0.0] * 383
    try:
        got = col.query(query_embeddings=[probe], n_results=n, include=[])
    except Exception:  # "Error finding id": some of them are not in the vector index
        return n
    return n - len(got["ids"][0])


# -- item 2: vectors lost from the search index are found and stored again ----------------------


def hnsw_folder(settings: Settings) -> Path:
    """The folder of the chunk collection's vector index (Chroma names it by segment id)."""
    import sqlite3

    db = sqlite3.connect(settings.index_dir / "chroma" / "chroma.sqlite3")
    try:
        (segment,) = db.execute(
            "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE c.name LIKE '%-chunks' AND s.scope = 'VECTOR'"
        ).fetchone()
    finally:
        db.close()
    return settings.index_dir / "chroma" / str(segment)


@pytest.mark.slow
def test_check_finds_and_repairs_chunks_lost_from_the_vector_index(tmp_path: Path) -> None:
    """Chroma persists its vector index every 1000 writes. When those files fall back to an
    earlier state (a crash while they are written, a full disk, a partial restore), the
    records and counts stay but the newer vectors are gone: dense search misses them and
    nothing else notices. Here the files are really rolled back to an earlier state."""
    settings = small_settings(tmp_path)
    first, second = tmp_path / "docs" / "first.jsonl", tmp_path / "docs" / "second.jsonl"
    synthetic_corpus(first, 60, seed=1)  # about 1,300 chunks: the vector index is persisted
    assert cli(settings, "ingest", "-q", str(first)).returncode == 0
    snapshot = tmp_path / "snapshot"
    shutil.copytree(hnsw_folder(settings), snapshot)
    synthetic_corpus(second, 60, seed=2)
    done = cli(settings, "ingest", "-q", "--json", str(second))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repaired"] == 0, "a fault-free sync must repair nothing"
    shutil.rmtree(hnsw_folder(settings))
    shutil.copytree(snapshot, hnsw_folder(settings))

    index = fresh_index(settings)
    n_articles, n_chunks = consistency(index)  # records and counts all look fine...
    assert lost_by_dense_search(index) > 0  # ...but dense search misses chunks

    found = cli(settings, "check", "--no-repair", "--json")
    assert found.returncode == 1, found.stdout + found.stderr
    lost = json.loads(found.stdout)["unreachable"]
    assert lost and not json.loads(found.stdout)["ok"]

    fixed = cli(settings, "check")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"{len(lost)} stored again" in fixed.stdout

    index = fresh_index(settings)
    assert consistency(index) == (n_articles, n_chunks)
    assert lost_by_dense_search(index) == 0
    gen = index.active_generation()
    assert not index.store.unreachable_chunks(gen)
    # Each lost chunk is found again by a search filtered to its own article.
    for cid in random.Random(0).sample(lost, min(5, len(lost))):
        (passage,) = index.store.get_chunks(gen, [cid]).values()
        vector = index.embedder.encode([passage.text])[0].tolist()
        hits = index.store.search(gen, vector, 3, {"doc_id": passage.doc_id})
        assert cid in hits
    again = cli(settings, "check", "--json")
    assert json.loads(again.stdout)["unreachable"] == []


def test_the_reachability_check_is_cheap_when_nothing_is_wrong(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    synthetic_corpus(tmp_path / "docs" / "feed.jsonl", 20, seed=3)
    index = Index(settings)
    report = index.ingest([tmp_path / "docs"])
    assert report.checked == consistency(index)[1] > 100 and report.repaired == 0
    check = index.check()
    assert check.ok and check.chunks == report.checked and not check.unreachable


def test_rag_ingest_repair_runs_the_check_first(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    synthetic_corpus(tmp_path / "docs" / "feed.jsonl", 5, seed=4)
    assert cli(settings, "ingest", "-q", str(tmp_path / "docs")).returncode == 0
    done = cli(settings, "ingest", "--repair", str(tmp_path / "docs"))
    assert done.returncode == 0, done.stderr
    assert re.search(r"check: \d+ chunks checked", done.stderr), done.stderr


# -- kill -9 mid-sync: no loss, no stale article, and the check after the next sync is clean -----


def start_and_kill(settings: Settings, path: Path, after: int) -> None:
    """Run `rag ingest path` and kill -9 it once ``after`` chunks are embedded."""
    run = IngestProcess([str(path)], small_env(settings))
    run.wait_for(after)
    run.proc.send_signal(signal.SIGKILL)
    run.finish(timeout=60)


def origin_keys(index: Index) -> set[tuple[str, str]]:
    """(file, record key) of every stored article: what the files say should be there."""
    keys = set()
    for meta in index.store.manifest(index.active_generation()).values():
        keys |= {(f, k) for f, k, _ in json.loads(meta["origins"])}
    return keys


def rewrite_every_article(path: Path) -> None:
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record["body"] += "\n\nThis article was corrected."
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_kill_9_mid_update_loses_no_article(tmp_path: Path, trial: int) -> None:
    """Item 8 and item 2: an update killed at a different point each trial. Every article
    stays stored in its old or new version throughout; the next sync completes it, calls
    nothing "added", and its check finds every chunk by its own vector."""
    settings = small_settings(tmp_path)
    feed = tmp_path / "docs" / "feed.jsonl"
    synthetic_corpus(feed, 40, seed=10 + trial)
    assert cli(settings, "ingest", "-q", str(feed)).returncode == 0
    before = origin_keys(fresh_index(settings))
    assert len(before) == 40
    rewrite_every_article(feed)
    start_and_kill(settings, feed, after=[30, 150, 350][trial])

    index = fresh_index(settings)
    assert origin_keys(index) == before, "articles went missing while the update ran"
    report = index.ingest([feed])
    assert not report.added and not report.removed, report.summary()
    assert len(report.updated) + len(report.unchanged) == 40
    assert report.checked == consistency(index)[1] and report.repaired == 0
    assert lost_by_dense_search(fresh_index(settings)) == 0


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs of a few MB (this needs root, as in CI and the dev container)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_loses_nothing_stored_and_is_recovered(
    small_disk: Path, tmp_path: Path
) -> None:
    settings = small_settings(small_disk)
    feed = tmp_path / "feed.jsonl"
    synthetic_corpus(feed, 15, seed=20)
    assert cli(settings, "ingest", "-q", str(feed)).returncode == 0
    before = origin_keys(fresh_index(settings))
    rewrite_every_article(feed)
    synthetic_corpus(tmp_path / "more.jsonl", 150, seed=21)  # and far more than fits
    full = cli(settings, "ingest", "-q", str(feed), str(tmp_path / "more.jsonl"))
    assert full.returncode != 0
    assert "is full" in full.stderr and "free some space" in full.stderr, full.stderr[-2000:]
    # Room again (a file deleted, a bigger disk): nothing that was stored is lost.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    index = fresh_index(settings)
    assert before <= origin_keys(index), "articles stored before the full disk went missing"
    report = index.ingest([feed])
    assert report.checked == consistency(index)[1]
    assert {k for k in origin_keys(index) if k[0] == str(feed)} == before
    check = index.check()
    assert check.ok and not check.unreachable
    assert lost_by_dense_search(fresh_index(settings)) == 0


# -- a Chroma server killed mid-ingest ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.server
def test_a_server_killed_mid_ingest_loses_nothing(tmp_path: Path) -> None:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.skip(f"no chroma command at {chroma}")
    server = ChromaServer(tmp_path / "server", free_port(), tmp_path / "chroma.log")
    server.start()
    try:
        settings = small_settings(tmp_path, chroma_url=server.url)
        feed = tmp_path / "docs" / "feed.jsonl"
        synthetic_corpus(feed, 40, seed=30)
        assert cli(settings, "ingest", "-q", str(feed)).returncode == 0
        before = origin_keys(Index(settings))
        rewrite_every_article(feed)
        run = IngestProcess([str(feed)], small_env(settings))
        run.wait_for(300)
        server.kill()
        assert run.finish(timeout=120) != 0 and "chroma run" in run.output, run.output[-2000:]
        server.start()
        index = Index(settings)
        assert origin_keys(index) == before, "articles went missing"
        report = index.ingest([feed])
        assert not report.added and report.checked == consistency(index)[1]
        assert index.check().ok
    finally:
        server.kill()


# -- item 9: damaged, read-only and odd stores ---------------------------------------------------


def seeded(tmp_path: Path) -> Settings:
    settings = small_settings(tmp_path)
    synthetic_corpus(tmp_path / "docs" / "feed.jsonl", 3, seed=40)
    Index(settings).ingest([tmp_path / "docs"])
    return settings


def test_a_damaged_write_mark_does_not_stop_ingest(tmp_path: Path) -> None:
    settings = seeded(tmp_path)
    (settings.index_dir / "store-writes").write_bytes(b"\xff\xfe\x80 not utf-8")
    done = cli(settings, "ingest", "-q", str(tmp_path / "docs"))
    assert done.returncode == 0, done.stderr
    assert "3 unchanged" in done.stdout


def test_an_empty_database_file_is_reported_as_damaged(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    (settings.index_dir / "chroma").mkdir(parents=True)
    (settings.index_dir / "chroma" / "chroma.sqlite3").write_bytes(b"")
    with pytest.raises(rag.StoreError, match=r"damaged.*rag ingest"):
        Store(settings).state()


def test_a_corrupt_database_says_how_to_rebuild(tmp_path: Path) -> None:
    settings = seeded(tmp_path)
    db = settings.index_dir / "chroma" / "chroma.sqlite3"
    done = cli(settings, "stats")
    assert done.returncode == 0
    db.write_bytes(b"this is not a database" * 4096)
    done = cli(settings, "stats")
    assert done.returncode == 2
    assert "damaged" in done.stderr and "rag ingest" in done.stderr, done.stderr


def test_a_read_only_index_says_it_must_be_writable(tmp_path: Path) -> None:
    settings = seeded(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    bound = subprocess.run(["mount", "--bind", str(settings.index_dir), str(ro)])
    if bound.returncode != 0:
        pytest.skip("cannot bind-mount (needs root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        done = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ask", "Story 40-1", "--json"],
            env={**small_env(settings), "RAG_INDEX_DIR": str(ro)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            assert "must be writable" in done.stderr, done.stderr[-2000:]
        else:
            assert json.loads(done.stdout)["passages"], done.stdout
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_rag_ask_does_not_print_terminal_escapes(tmp_path: Path) -> None:
    settings = small_settings(tmp_path)
    feed = tmp_path / "docs" / "feed.jsonl"
    feed.parent.mkdir(parents=True)
    evil = {
        "title": "Harbour \x1b]0;owned\x07bridge \x1b[2J reopens",
        "body": "The harbour bridge reopened on Monday after two years of repairs.",
        "source": "The \x1b[31mRed\x1b[0m Herald",
    }
    feed.write_text(json.dumps(evil) + "\n")
    Index(settings).ingest([feed])
    done = cli(settings, "ask", "When did the harbour bridge reopen?")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "Monday" in done.stdout and "\\x1b" in done.stdout
