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
