"""Interrupting ingest at any moment leaves an index that the next run completes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import MULTIHOP, make_settings
from test_index import consistency

from rag.index import Index

pytestmark = pytest.mark.slow


def progress_of(text: str) -> int:
    found = re.findall(r"embedding:\s+\d+%\|[^|]*\|\s*(\d+)/", text)
    return int(found[-1]) if found else 0


class IngestProcess:
    """`rag ingest ARGS` in a subprocess, its progress bar (on stderr) followed as it runs."""

    def __init__(self, args: list[str], env: dict[str, str], *, sigint: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "ingest", *args],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            # As at a terminal: a test runner started in the background (nohup, `cmd &`)
            # passes SIGINT on as ignored, and Python then never raises KeyboardInterrupt.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if sigint else None,
        )
        self._seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read(64):
            self._seen.append(chunk)

    @property
    def output(self) -> str:
        return "".join(self._seen)

    def wait_for(self, embedded: int, timeout: float = 300) -> None:
        """Until the progress bar shows (at least) ``embedded`` chunks embedded."""
        deadline = time.monotonic() + timeout
        while "embedding:" not in self.output or progress_of(self.output) < embedded:
            assert self.proc.poll() is None, self.output[-2000:]
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.02)

    def finish(self, timeout: float = 600) -> int:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return int(self.proc.returncode)


@pytest.mark.parametrize(("sig", "after"), [(signal.SIGKILL, 150), (signal.SIGINT, 280)])
def test_interrupted_ingest_recovers(tmp_path: Path, sig: signal.Signals, after: int) -> None:
    articles = MULTIHOP / "articles.jsonl"
    if not articles.exists():
        pytest.skip("shared benchmark not present")
    index_dir = tmp_path / "index"
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_BATCH_SIZE": "8"}
    run = IngestProcess([str(articles)], env, sigint=True)
    run.wait_for(after)
    run.proc.send_signal(sig)
    assert run.finish(timeout=60) != 0, "the run should have been interrupted, not finished"

    settings = make_settings(tmp_path)
    index = Index(settings)
    state = index.store.state()
    assert state.get("syncing"), "the interrupted run should have left its sync unfinished"

    report = index.ingest([articles])
    n_records = sum(1 for line in articles.read_text().splitlines() if line.strip())
    n_articles, n_chunks = consistency(index)
    assert n_articles == n_records
    assert not report.removed and not report.skipped
    assert len(report.added) + len(report.unchanged) == n_records
    assert report.unchanged, "articles indexed before the interruption are kept, not redone"
    calls = index.embedder.calls
    again = index.ingest([articles])
    assert index.embedder.calls == calls and len(again.unchanged) == n_records
    assert consistency(index) == (n_articles, n_chunks)
