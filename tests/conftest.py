"""Shared fixtures: real models, real Chroma in temporary folders."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Tests must not pick up a developer's own RAG_* settings.
for _var in [v for v in os.environ if v.startswith("RAG_")]:
    del os.environ[_var]
os.environ["HF_HUB_OFFLINE"] = "1"

import rag  # noqa: E402
from rag.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEED = CORPUS / "north-korea-launches-missile-amid-blinken-visit-to-seoul.txt"
SHARED = REPO.parent / "shared"
MULTIHOP = SHARED / "benchmarks" / "multihop-rag"


def make_settings(tmp: Path, **overrides: object) -> Settings:
    return Settings.from_env(index_dir=tmp / "index", corpus_dir=tmp / "corpus", **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "corpus").mkdir()
    return make_settings(tmp_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real `chroma run` server in a temporary folder, killed afterwards."""
    from test_server import CHROMA, ChromaServer, free_port

    if not CHROMA.exists():
        pytest.skip(f"no chroma command at {CHROMA}")
    srv = ChromaServer(tmp_path / "chroma-server", free_port(), tmp_path / "chroma.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An index of the repository's corpus, built once per test session."""
    tmp = tmp_path_factory.mktemp("seed")
    s = Settings.from_env(index_dir=tmp / "index", corpus_dir=CORPUS)
    report = rag.ingest(settings=s)
    assert report.added, report
    return s


# -- a web server on 127.0.0.1 for feeds and article pages (tests/test_feeds.py, the UI)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str = ""
    location: str = ""
    delay: float = 0.0


@dataclass
class Site:
    """The test's web server: ``routes`` maps a path to what it answers; ``hits`` counts."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    conditional: dict[str, int] = field(default_factory=dict)  # 304s sent
    agents: list[str] = field(default_factory=list)

    def serve(self, path: str, body: str | bytes, **kw: object) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **kw)  # type: ignore[arg-type]
        return self.base + path


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            state.agents.append(self.headers.get("User-Agent", ""))
            route = state.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.end_headers()
                return
            if route.delay:
                time.sleep(route.delay)
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                state.conditional[self.path] = state.conditional.get(self.path, 0) + 1
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            if route.location:
                self.send_header("Location", route.location)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def local(tmp_path: Path) -> Settings:
    """Settings that allow 127.0.0.1 (the test server) and do not wait between requests."""
    (tmp_path / "corpus").mkdir()
    return make_settings(tmp_path, fetch_allow_private=True, fetch_delay=0.0, fetch_timeout=2.0)


# `make test-fast` runs the unit tests only: those that need no real model, index or server.
# A test is an integration test when its module is one of these or it uses one of these
# fixtures (each builds a real index or loads a real model).
INTEGRATION_MODULES = frozenset(
    [
        "test_concurrency",
        "test_crash",
        "test_embed_onnx",
        "test_embed_remote",
        "test_faults",
        "test_index",
        "test_paths",
        "test_server",
        "test_ui_browser",
    ]
)
INTEGRATION_FIXTURES = frozenset(
    [
        "seed_settings",
        "multi_settings",
        "llm_settings",
        "small_report",
        "exported",
        "settings",
        "site",
        "local",
    ]
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in INTEGRATION_MODULES or fixtures & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
