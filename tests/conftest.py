"""Shared fixtures: real models, real Chroma in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An index of the repository's corpus, built once per test session."""
    tmp = tmp_path_factory.mktemp("seed")
    s = Settings.from_env(index_dir=tmp / "index", corpus_dir=CORPUS)
    report = rag.ingest(settings=s)
    assert report.added, report
    return s


# `make test-fast` runs the unit tests only: those that need no real model, index or server.
# A test is an integration test when its module is one of these or it uses one of these
# fixtures (each builds a real index or loads a real model).
INTEGRATION_MODULES = frozenset(
    [
        "test_concurrency",
        "test_crash",
        "test_embed_onnx",
        "test_faults",
        "test_index",
        "test_paths",
        "test_server",
        "test_ui_browser",
    ]
)
INTEGRATION_FIXTURES = frozenset(
    ["seed_settings", "multi_settings", "llm_settings", "small_report", "exported", "settings"]
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in INTEGRATION_MODULES or fixtures & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
