"""Several real processes on one embedded index: a running app while another process
ingests, two ingests started at the same instant, two processes creating a new index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_crash import IngestProcess
from test_index import consistency, populate, write_article
from test_server import (
    CHROMA,
    GLACIER,
    LIGHTHOUSE,
    TRAMWAY,
    App,
    ChromaServer,
    env_for,
    free_port,
    wait_for_recheck,
)

from rag.config import Settings
from rag.index import Index
from rag.store import Store

pytestmark = pytest.mark.slow

TRIALS = 5


def cli_ingest(index_dir: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", "--json", "-q", *map(str, paths)],
        env=env_for("", index_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- item 1: a running app sees what another process ingests --------------------------------------


def test_a_running_app_answers_after_another_process_ingests(tmp_path: Path) -> None:
    """The app (a long-lived process like ui.py) answered before; then the CLI adds,
    updates and removes articles, three times over. Every answer after each sync must come
    from the index as it is now: no "Error finding id", no KeyError, nothing stale."""
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    write_article(docs, "lighthouse.txt", *LIGHTHOUSE)
    populate(docs / "more")
    assert cli_ingest(index_dir, docs).returncode == 0
    app = App("", index_dir)
    try:
        got = app.ask("answer", "Who kept the Skerryvore lighthouse?")
        assert "Marguerite Olsen" in got["text"], got

        # 1. another process adds an article
        write_article(docs, "tramway.txt", *TRAMWAY)
        assert cli_ingest(index_dir, docs).returncode == 0
        wait_for_recheck()
        got = app.ask("answer", "Which funicular reopened in Valparaiso?")
        assert not got["refused"] and TRAMWAY[0] in got["titles"], got
        assert (
            "Marguerite Olsen" in app.ask("answer", "Who kept the Skerryvore lighthouse?")["text"]
        )

        # 2. another process updates an article (its old chunks are deleted)
        title, body = LIGHTHOUSE
        write_article(docs, "lighthouse.txt", title, body.replace("Marguerite", "Ingrid"))
        assert cli_ingest(index_dir, docs).returncode == 0
        wait_for_recheck()
        got = app.ask("answer", "Who kept the Skerryvore lighthouse?")
        assert "Ingrid Olsen" in got["text"] and "Marguerite" not in got["text"], got
        got = app.ask("lexical", "Marguerite Olsen Skerryvore")
        assert got["titles"] == [LIGHTHOUSE[0]], got  # the new version, found once
        got = app.ask("answer", "Which funicular reopened in Valparaiso?")
        assert TRAMWAY[0] in got["titles"], got

        # 3. another process replaces one article by another
        (docs / "tramway.txt").unlink()
        write_article(docs, "glacier.txt", *GLACIER)
        assert cli_ingest(index_dir, docs).returncode == 0
        wait_for_recheck()
        got = app.ask("answer", "Where is the Quelccaya ice core stored?")
        assert "Columbus" in got["text"], got
        got = app.ask("lexical", "Artilleria funicular Valparaiso")
        assert TRAMWAY[0] not in got["titles"], got
    finally:
        app.close()


# -- item 4: one ingest at a time ---------------------------------------------------------------

# Loads everything first, then waits for the same instant as its twin, then syncs.
TWIN = """
import json, sys, time
from rag.config import Settings
from rag.index import Index
from rag.store import Store
index_dir, folder, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
index = Index(Settings.from_env())
index.embedder.encode(["warm up"])
index.store.state()
while time.time() < at:
    pass
started = time.time()
try:
    report = index.ingest([folder])
    out = {"ok": True, "added": len(report.added)}
except Exception as exc:
    out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps({**out, "start": started, "end": time.time()}))
"""


@pytest.fixture(params=["embedded", "server"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Gives a new, empty store each call: the embedded one ("") or a new `chroma run`."""
    servers: list[ChromaServer] = []

    def new() -> str:
        if request.param == "embedded":
            return ""
        if not CHROMA.exists():
            pytest.skip(f"no chroma command at {CHROMA}")
        server = ChromaServer(tmp_path / f"server-{len(servers)}", free_port(), tmp_path / "log")
        servers.append(server)
        server.start()
        return server.url

    try:
        yield new
    finally:
        for server in servers:
            server.kill()


def run_twins(
    url: str, index_dir: Path, folders: list[Path], delay: float = 8.0
) -> list[dict[str, Any]]:
    at = time.time() + delay  # both are loaded by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWIN, str(index_dir), str(folder), str(at)],
            env=env_for(url, index_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_two_ingests_started_together_never_both_write(
    tmp_path: Path, store_url: Callable[[], str]
) -> None:
    overlaps = lost_revisions = 0
    url = store_url()
    trials = 3 if url else TRIALS  # a new server for each trial takes a while
    for trial in range(trials):
        url = url if trial == 0 else store_url()
        index_dir = tmp_path / f"index-{trial}"
        a, b = tmp_path / f"a-{trial}", tmp_path / f"b-{trial}"
        write_article(a, "lighthouse.txt", *LIGHTHOUSE)
        write_article(b, "tramway.txt", *TRAMWAY)
        settings = Settings.from_env(index_dir=index_dir, chroma_url=url)
        Store(settings).state()  # an empty index, created once
        results = run_twins(url, index_dir, [a, b])
        done = [r for r in results if r["ok"]]
        refused = [r for r in results if not r["ok"]]
        assert done, results
        for r in refused:
            assert "another ingest" in r["error"] and "is running" in r["error"], r
        if len(done) == 2 and not (
            done[0]["end"] <= done[1]["start"] or done[1]["end"] <= done[0]["start"]
        ):
            overlaps += 1
        index = Index(settings)
        if int(index.store.state().get("revision", 0)) != len(done):
            lost_revisions += 1
        assert consistency(index)[0] == len(done)
    assert (overlaps, lost_revisions) == (0, 0), (
        f"of {trials} trials, {overlaps} had both ingests writing at once and "
        f"{lost_revisions} lost a revision"
    )


def test_a_live_ingest_is_not_taken_over_however_long_one_batch_takes(
    tmp_path: Path, store_url: Callable[[], str]
) -> None:
    """One long article is one embedding batch; its sync must stay exclusive even when
    that batch takes longer than the time after which a silent owner is presumed dead.
    (In server mode both sides take a silent owner for dead after 2 s.)"""
    url = store_url()
    index_dir, docs, other = tmp_path / "index", tmp_path / "docs", tmp_path / "other"
    sentence = "The harbour commission met again to discuss the new breakwater design. "
    write_article(docs, "long.txt", "Harbour commission minutes", sentence * 10_000)  # 700 KB
    write_article(other, "tramway.txt", *TRAMWAY)
    env = {**env_for(url, index_dir), "RAG_BATCH_SIZE": "256"}  # one batch for the article
    if url:  # the owner declares (and renews) a short lease
        env["PYTHONPATH"] = str(tmp_path / "short-lease")
        (tmp_path / "short-lease").mkdir()
        (tmp_path / "short-lease" / "sitecustomize.py").write_text(
            "import rag.index\nrag.index.LEASE_SECONDS = 2\n"
        )
    owner = IngestProcess([str(docs)], env)
    try:
        owner.wait_for(0, timeout=120)
        # The second process presumes a silent owner dead after 2 s, and tries after 4 s.
        time.sleep(4)
        assert owner.proc.poll() is None, "the article embedded too fast for this test"
        script = (
            # Another host, in server mode: only the renewed lease shows the owner is alive.
            ("import socket\nsocket.gethostname = lambda: 'another-host'\n" if url else "")
            + "import sys, rag.index as ix\n"
            "from rag.config import Settings\n"
            "ix.LEASE_SECONDS = 2\n"
            "try:\n"
            "    ix.Index(Settings.from_env()).ingest([sys.argv[1]])\n"
            "    print('took over')\n"
            "except Exception as exc:\n"
            "    print(f'refused: {exc}')\n"
        )
        second = subprocess.run(
            [sys.executable, "-c", script, str(other)],
            env=env_for(url, index_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "refused: another ingest" in second.stdout, second.stdout + second.stderr[-2000:]
    finally:
        code = owner.finish()
    assert code == 0, owner.output[-2000:]
    index = Index(Settings.from_env(index_dir=index_dir, chroma_url=url))
    assert consistency(index)[0] == 1


OPEN = """
import sys, time
from rag.config import Settings
from rag.store import Store
import chromadb
store = Store(Settings.from_env(index_dir=sys.argv[1]))
at = float(sys.argv[2])
while time.time() < at:
    pass
try:
    store.state()
    print("ok")
except Exception as exc:
    print(f"failed: {exc}")
"""


def test_two_processes_creating_a_new_index_at_once(tmp_path: Path) -> None:
    failures = []
    for trial in range(TRIALS):
        index_dir = tmp_path / f"index-{trial}"
        at = time.time() + 4
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN, str(index_dir), str(at)],
                env=env_for("", index_dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120)[0].strip() for p in procs]
        failures += [o for o in outs if o != "ok"]
    assert not failures, f"{len(failures)} of {2 * TRIALS} openings failed: {failures[:2]}"


def test_the_ingest_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=tmp_path / "docs")
    populate(settings.corpus_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom rag.config import Settings\nfrom rag.index import Index, IngestLock\n"
            "index = Index(Settings.from_env())\n"
            "with IngestLock(index.store):\n"
            "    print('held', flush=True); sys.stdin.read()\n",
        ],
        env=env_for("", settings.index_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, 9)
    holder.wait(timeout=30)
    report = Index(settings).ingest([settings.corpus_dir])
    assert len(report.added) == 3
