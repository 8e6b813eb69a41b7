"""Server mode: several processes share one real ``chroma run`` server.

Each process keeps its own derived BM25 cache (its own ``RAG_INDEX_DIR``); Chroma is
the only shared state. The tests check that an article ingested through one process
is answerable from another that had already answered (and built its lexical index),
and that a server that dies mid-session is reported quickly and then recovered from.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from test_index import write_article

import rag
from rag.config import Settings
from rag.lexical import LexicalIndex
from rag.pipeline import Pipeline, get_pipeline
from rag.store import Store

pytestmark = [pytest.mark.server, pytest.mark.slow]

CHROMA = Path(sys.executable).with_name("chroma")

# Made-up articles whose key words appear nowhere else, so the lexical side alone finds them.
LIGHTHOUSE = (
    "Lighthouse keeper retires after forty years",
    "Marguerite Olsen kept the Skerryvore lighthouse for forty years. "
    "She retired on Friday and handed the lamp to her grandson.",
)
TRAMWAY = (
    "Funicular tramway reopens in Valparaiso",
    "The Artilleria funicular in Valparaiso reopened after a six-month restoration. "
    "Engineers rebuilt the wooden cars and replaced the haulage cable.",
)
GLACIER = (
    "Glacier archive finds medieval pollen",
    "Scientists drilling the Quelccaya glacier found pollen from the fourteenth century. "
    "The ice core is stored in a freezer in Columbus.",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChromaServer:
    """A ``chroma run`` subprocess that can be killed and started again on the same port."""

    path: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        args = ["run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(CHROMA), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"chroma run exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"chroma run gave no heartbeat in {timeout:.0f}s: {self.log.read_text()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None


def env_for(url: str, index_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_CHROMA_URL": url, "RAG_INDEX_DIR": str(index_dir), "HF_HUB_OFFLINE": "1"}


def cli_ingest(url: str, index_dir: Path, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", "--json", "-q", str(path)],
        env=env_for(url, index_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


# A long-lived second app process: one JSON request per line in, one JSON reply per line out.
APP = """
import json, sys
from rag.pipeline import get_pipeline
pipeline = get_pipeline()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "answer":
        a = pipeline.answer(req["q"])
        out = {"text": a.text, "refused": a.refused, "titles": [c.title for c in a.citations]}
    else:
        hits = pipeline.retriever.retrieve(req["q"], k=3, mode="lexical")
        out = {"titles": [p.title for p in hits]}
    print(json.dumps(out), flush=True)
"""


class App:
    """The second app process, standing in for another ``ui.py`` on the same server."""

    def __init__(self, url: str, index_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP],
            env=env_for(url, index_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.read() == {"ready": True}

    def read(self) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        line = out.readline()
        assert line, f"app process exited with {self.proc.wait(timeout=30)}"
        return dict(json.loads(line))

    def ask(self, op: str, q: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "q": q}) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_for_recheck() -> None:
    """Long enough for every LexicalIndex to look at the shared revision again."""
    check_every = inspect.signature(LexicalIndex).parameters["check_every"].default
    time.sleep(float(check_every) + 0.5)


def test_processes_share_one_chroma_server(server: ChromaServer, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_article(docs / "a", "lighthouse.txt", *LIGHTHOUSE)
    write_article(docs / "b", "tramway.txt", *TRAMWAY)
    write_article(docs / "c", "glacier.txt", *GLACIER)

    # Process 1 (the CLI) ingests; nothing is stored under its own index dir but caches.
    report = cli_ingest(server.url, tmp_path / "cli", docs / "a")
    assert len(report["added"]) == 1 and report["index_dir"] == server.url
    assert not (tmp_path / "cli" / "chroma").exists(), "server mode must not create a local store"

    # The test process answers, which builds its lexical index at this revision.
    settings = Settings.from_env(chroma_url=server.url, index_dir=tmp_path / "test-proc")
    first = rag.answer("Who kept the Skerryvore lighthouse?", settings=settings)
    assert not first.refused and "Marguerite Olsen" in first.text, first.text
    assert first.citations[0].title == LIGHTHOUSE[0]

    # A second app process answers the same, from the same server.
    app = App(server.url, tmp_path / "app-proc")
    try:
        got = app.ask("answer", "Who kept the Skerryvore lighthouse?")
        assert not got["refused"] and "Marguerite Olsen" in got["text"], got

        # The test process ingests; the app process, which already answered, must see it,
        # in its BM25 index too (not only through dense search).
        added = rag.ingest([docs / "b"], settings=settings)
        assert len(added.added) == 1
        wait_for_recheck()
        assert app.ask("lexical", "Artilleria funicular Valparaiso")["titles"][0] == TRAMWAY[0]
        got = app.ask("answer", "Which funicular reopened in Valparaiso?")
        assert not got["refused"] and TRAMWAY[0] in got["titles"], got

        # The CLI ingests again; the test process, which already answered, must see it.
        assert len(cli_ingest(server.url, tmp_path / "cli", docs / "c")["added"]) == 1
        wait_for_recheck()
        lexical = rag.retrieve("Quelccaya glacier pollen", settings=settings)
        assert lexical and lexical[0].title == GLACIER[0]
        retriever = get_pipeline(settings).retriever
        assert [p.title for p in retriever.retrieve("Quelccaya", k=1, mode="lexical")] == [
            GLACIER[0]
        ]
        third = rag.answer("Where is the Quelccaya ice core stored?", settings=settings)
        assert not third.refused and "Columbus" in third.text, third.text
        assert app.ask("lexical", "Quelccaya")["titles"][0] == GLACIER[0]
    finally:
        app.close()

    stats = rag.stats(settings=settings)
    assert stats["articles"] == 3 and stats["index"] == server.url


def test_server_down_then_back(server: ChromaServer, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_article(docs, "lighthouse.txt", *LIGHTHOUSE)
    settings = Settings.from_env(chroma_url=server.url, index_dir=tmp_path / "proc")
    pipeline = Pipeline(settings)
    pipeline.index.ingest([docs])
    question = "Who kept the Skerryvore lighthouse?"
    assert "Marguerite Olsen" in pipeline.answer(question).text

    server.kill()
    started = time.monotonic()
    with pytest.raises(rag.StoreError) as caught:
        pipeline.answer(question)
    waited = time.monotonic() - started
    message = str(caught.value)
    assert server.url in message and "chroma run" in message, message
    assert 1.0 < waited < 15.0, f"retries should back off briefly, then give up ({waited:.1f}s)"

    # The same objects recover once the server is back on the same port and path.
    server.start()
    again = pipeline.answer(question)
    assert not again.refused and "Marguerite Olsen" in again.text
    assert pipeline.index.stats()["articles"] == 1


def test_no_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = Store(Settings.from_env(chroma_url=url, index_dir=tmp_path / "proc"))
    started = time.monotonic()
    with pytest.raises(rag.StoreError, match="chroma run") as caught:
        store.state()
    assert url in str(caught.value)
    assert time.monotonic() - started < 15.0
    assert not (tmp_path / "proc" / "chroma").exists()


def test_bad_url_is_a_config_problem(tmp_path: Path) -> None:
    store = Store(Settings.from_env(chroma_url="http://", index_dir=tmp_path / "proc"))
    with pytest.raises(rag.StoreError, match="is not a URL"):
        store.state()


# One contender for the server-mode ingest lock: loads, says so, then on "go" tries at the
# instant it is given and holds the lock for a moment when it wins.
CONTENDER = """
import json, sys, time
from rag.config import Settings
from rag.errors import RagError
from rag.index import IngestLock
from rag.store import Store
store = Store(Settings.from_env())
store.lock_info("rag-ingest-lock")  # connected before the race
print("ready", flush=True)
at = float(sys.stdin.readline())
while time.time() < at:
    pass
try:
    with IngestLock(store):
        start = time.time()
        time.sleep(0.5)
        end = time.time()
    print(json.dumps({"won": True, "start": start, "end": end}))
except RagError as exc:
    print(json.dumps({"won": False, "error": str(exc)}))
"""


def test_two_processes_never_both_take_the_server_lease(
    server: ChromaServer, tmp_path: Path
) -> None:
    """Two processes started together, 20 times: exactly one takes the lease each time,
    whether it is free or left behind by an owner that is gone (then both try to take it
    over at once, which only a compare-and-set on the lock itself keeps exclusive)."""
    from rag.index import LOCK_COLLECTION

    store = Store(Settings.from_env(chroma_url=server.url, index_dir=tmp_path / "test"))
    outcomes = []
    for trial in range(20):
        stale = trial % 2 == 1
        if stale:  # a lease of a process on another host, unrenewed for long
            gone = {"owner": "gone-host:4242", "at": time.time() - 3600, "ttl": 90}
            assert store.create_lock(LOCK_COLLECTION, gone)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CONTENDER],
                env=env_for(server.url, tmp_path / f"proc-{trial}-{i}"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        at = time.time() + 0.3
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{at}\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        won = [r for r in results if r["won"]]
        for r in results:
            if not r["won"]:
                assert "another ingest" in r["error"], r
        outcomes.append((stale, len(won)))
        assert store.read_lock(LOCK_COLLECTION) is None, "the winner must release the lease"
    both = [o for o in outcomes if o[1] != 1]
    assert not both, f"of 20 trials, {len(both)} did not have exactly one winner: {outcomes}"
