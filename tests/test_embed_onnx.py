"""The ONNX Runtime embedder: same vectors as sentence-transformers, no torch when answering."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embed_onnx import rejected_marker
from rag.models import Embedder, resolve_embedder, resolve_reranker

# A long text whose second half differs from its first: truncating at the wrong length
# (tokenizer.json says 128 tokens, the model uses 256) would change its vector.
LONG = " ".join(
    f"Paragraph {i}: the {word} committee met on day {i} to discuss {word} policy."
    for i, word in enumerate(["trade", "energy", "health", "housing", "water", "labour"] * 8)
)
TEXTS = [
    "Why was the launch's timing notable?",
    "North Korea fired a ballistic missile that flew about 1,100 kilometers.",
    "Zürich — die Preise für Café stiegen um 12 %.",
    "x",
    "  leading and trailing spaces \n",
    LONG,
]


def st_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return np.asarray(
        embedder.model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """An embedder whose ONNX file was exported into a fresh cache by its first question."""
    embedder = Embedder(cache_dir=tmp_path_factory.mktemp("cache"))
    assert embedder.onnx_path is not None and not embedder.onnx_path.exists()
    embedder.encode(["a first question exports the model"])
    assert embedder.onnx_path.is_file()
    return embedder


def test_a_model_named_by_path_shares_the_export(tmp_path: Path) -> None:
    by_name = Embedder("all-MiniLM-L6-v2", cache_dir=tmp_path)
    by_path = Embedder(str(resolve_embedder("all-MiniLM-L6-v2")), cache_dir=tmp_path)
    assert by_name.onnx_path is not None and by_name.onnx_path == by_path.onnx_path


def test_dimension_needs_no_torch(tmp_path: Path) -> None:
    embedder = Embedder(cache_dir=tmp_path)
    assert embedder.dimension == 384
    assert embedder._model is None


def test_onnx_vectors_match_sentence_transformers(exported: Embedder) -> None:
    assert len(exported.onnx().tokenizer.encode(LONG).ids) == 256  # type: ignore[union-attr]
    fast = exported.encode(TEXTS)  # no progress, few texts: the ONNX path
    assert fast.dtype == np.float32 and fast.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    reference = st_vectors(exported, TEXTS)
    cosines = (fast * reference).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines
    # Ingest (with progress) stays on sentence-transformers once torch is loaded.
    slow = exported.encode(TEXTS, progress=lambda n: None)
    assert np.allclose(slow, reference, atol=1e-5)


def test_a_new_process_reuses_the_export(exported: Embedder) -> None:
    again = Embedder(cache_dir=exported.cache_dir)
    assert np.array_equal(again.encode(TEXTS[:3]), exported.encode(TEXTS[:3]))
    assert again._model is None, "a cached export must not need torch"
    # Ingest too: with the export cached, a new process embeds passages without torch.
    done: list[int] = []
    bulk = again.encode(TEXTS * 3, progress=done.append)
    assert again._model is None and sum(done) == len(TEXTS) * 3
    reference = st_vectors(exported, TEXTS * 3)
    assert (bulk * reference).sum(axis=1).min() >= 0.9999


@pytest.mark.parametrize("damage", ["truncated", "another model"])
def test_a_damaged_export_is_rebuilt(
    exported: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    good = exported.onnx_path
    assert good is not None
    embedder = Embedder(cache_dir=tmp_path)
    embedder._model = exported.model  # the same weights, already loaded: saves seconds
    path = embedder.onnx_path
    assert path is not None and path.name == good.name
    path.parent.mkdir(parents=True)
    if damage == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    else:  # a valid ONNX file, but not this export: the self-check must catch it
        path.write_bytes((resolve_reranker("ms-marco-MiniLM-L-12-v2") / "model.onnx").read_bytes())
    with caplog.at_level(logging.WARNING, logger="rag.models"):
        vectors = embedder.encode(TEXTS[:2])
    assert "is unusable" in caplog.text and "rebuilding it" in caplog.text
    assert (vectors * st_vectors(exported, TEXTS[:2])).sum(axis=1).min() >= 0.9999
    assert path.stat().st_size == good.stat().st_size
    assert embedder.onnx() is not None


def test_a_rejected_export_stays_on_torch(exported: Embedder, tmp_path: Path) -> None:
    embedder = Embedder(cache_dir=tmp_path)
    embedder._model = exported.model
    assert embedder.onnx_path is not None
    marker = rejected_marker(embedder.onnx_path)
    marker.parent.mkdir(parents=True)
    marker.write_text("its vectors differ\n")
    assert embedder.onnx() is None
    vectors = embedder.encode(TEXTS[:2])
    assert np.allclose(vectors, st_vectors(exported, TEXTS[:2]), atol=1e-6)
    assert not embedder.onnx_path.exists()


def test_a_new_export_removes_those_of_earlier_model_files(
    exported: Embedder, tmp_path: Path
) -> None:
    embedder = Embedder(cache_dir=tmp_path)
    embedder._model = exported.model
    path = embedder.onnx_path
    assert path is not None
    folder_prefix = path.name[: path.name.rindex("-") + 1]
    path.parent.mkdir(parents=True)
    stale = [
        path.with_name(f"{folder_prefix}0123456789abcdef0123{s}") for s in (".onnx", ".rejected")
    ]
    elsewhere = path.with_name(f"{folder_prefix[:-10]}-00000000-0123456789abcdef0123.onnx")
    for p in [*stale, elsewhere]:
        p.write_bytes(b"an export of other model files")
    assert embedder.onnx() is not None and path.is_file()
    assert not any(p.exists() for p in stale), "exports of changed model files are deleted"
    assert elsewhere.exists(), "exports of another model folder are kept"


ASK = """
import json, sys
from rag.cli import main
code = main(["ask", "How far did the missile travel?"])
heavy = ["torch", "sentence_transformers", "transformers", "gradio", "langchain",
         "langchain_core", "sklearn", "pandas"]
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


@pytest.mark.slow
def test_answering_in_a_new_process_imports_no_torch(seed_settings: Settings) -> None:
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(seed_settings.index_dir),
        "RAG_CACHE_DIR": str(seed_settings.cache_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", ASK], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    *answer, last = out.stdout.strip().splitlines()
    report = json.loads(last)
    assert report == {"code": 0, "loaded": []}, out.stderr
    assert "1,100 kilometers" in "\n".join(answer)


def test_interactive_calls_reuse_recent_vectors(exported: Embedder) -> None:
    texts = [f"Recent vector {i} about the {word} talks." for i, word in enumerate("abc")]
    calls = exported.calls
    first = exported.encode(texts)
    assert exported.calls - calls == 3
    again = exported.encode([texts[2], "A new sentence about the talks.", texts[0], texts[2]])
    assert exported.calls - calls == 4, "only the new text is embedded"
    np.testing.assert_array_equal(again[0], first[2])
    np.testing.assert_array_equal(again[2], first[0])
    np.testing.assert_array_equal(again[3], first[2])
    fresh = Embedder(cache_dir=exported.cache_dir).encode(["A new sentence about the talks."])
    assert float(fresh[0] @ again[1]) > 0.9999
    again[0] *= 2  # callers get their own copy: the remembered vector is unchanged
    np.testing.assert_array_equal(exported.encode([texts[2]])[0], first[2])
