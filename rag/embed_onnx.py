"""The embedding model run through ONNX Runtime, so answering a question never imports torch.

Importing torch and sentence-transformers costs ~9 s, most of a cold ``rag ask``; one query
through ONNX Runtime also takes a fraction of torch's time. The ONNX file is *derived*: it is
exported once from the installed sentence-transformers model (same weights, fp32, no
quantisation), checked against that model's own vectors, and cached under ``RAG_CACHE_DIR``
with a name keyed by the model's files, so a changed model never reuses a stale export.

Only the plain layout is supported: Transformer + mean Pooling (+ Normalize), no prompts, no
lower-casing by sentence-transformers. Anything else stays on sentence-transformers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

OPSET = 17
FORMAT = "1"  # bump when what is exported, or the metadata stored with it, changes
MIN_COSINE = 0.9999  # an export must reproduce sentence-transformers' vectors this closely
# The export is checked on texts that exercise padding, non-ASCII and truncation.
PROBES = (
    "Which company was sued by the Federal Trade Commission?",
    "hello",
    "Café owners in São Paulo say prices rose 12% — the drought is to blame.",
    " ".join(
        ["The central bank raised interest rates for the third time this year, citing inflation."]
        * 40
    ),
)
# What the export remembers of itself, to tell a truncated or foreign file from a good one.
_SELF_CHECK = PROBES[0]
_FINGERPRINTED = (
    "model.safetensors",
    "pytorch_model.bin",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)


class ExportError(Exception):
    """An ONNX export could not be made, loaded or trusted."""


class ExportMismatch(ExportError):
    """The export runs but its vectors differ from sentence-transformers': never use it."""


@dataclass(frozen=True)
class Layout:
    """What the ONNX path needs to know about a plain sentence-transformers model folder."""

    folder: Path
    dimension: int
    max_seq_length: int
    pooling_config: Path


def plain_layout(folder: Path) -> Layout | None:
    """The layout of ``folder`` when it is Transformer + mean Pooling (+ Normalize), else None."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if modules[0].get("path", ""):
            return None
        pooling_config = folder / str(modules[1]["path"]) / "config.json"
        pooling = json.loads(pooling_config.read_text(encoding="utf-8"))
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True}
        if modes != {"pooling_mode_mean_tokens"} and pooling.get("pooling_mode") != "mean":
            return None
        bert = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if bert.get("do_lower_case") or not isinstance(bert.get("max_seq_length"), int):
            return None
        st_config = folder / "config_sentence_transformers.json"
        if st_config.is_file():
            st = json.loads(st_config.read_text(encoding="utf-8"))
            if st.get("default_prompt_name"):
                return None
        if not (folder / "tokenizer.json").is_file():
            return None
        dimension = pooling.get("word_embedding_dimension")
        if not isinstance(dimension, int):
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            dimension = int(config["hidden_size"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return Layout(folder, dimension, int(bert["max_seq_length"]), pooling_config)


def fingerprint(layout: Layout) -> str:
    """Changes whenever a file the export depends on changes (size or modification time)."""
    folder = layout.folder
    parts = [FORMAT, str(OPSET), str(folder.resolve())]
    for path in [*(folder / name for name in _FINGERPRINTED), layout.pooling_config]:
        if path.is_file():
            st = path.stat()
            parts.append(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def cache_path(cache_dir: Path, layout: Layout) -> Path:
    """Where the export of a model folder lives: named after the folder and its files.

    The same folder named two ways (``all-MiniLM-L6-v2`` or its path) shares one export.
    """
    folder = layout.folder.resolve()
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{folder.parent.name}_{folder.name}")[-60:]
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    return cache_dir / "embedders" / f"{label}-{key}-{fingerprint(layout)}.onnx"


def remove_stale(path: Path) -> list[Path]:
    """Delete earlier exports (and rejection markers) of the same model folder.

    They were made from files that have changed since, so nothing can use them again.
    Exports of other folders, even of the same model name, are left alone.
    """
    prefix = path.name[: path.name.rindex("-") + 1]
    removed: list[Path] = []
    for other in path.parent.glob(f"{prefix}*"):
        if other.suffix in (".onnx", ".rejected") and other.stem != path.stem:
            with contextlib.suppress(OSError):
                other.unlink()
                removed.append(other)
    return removed


def rejected_marker(path: Path) -> Path:
    """Left next to where an export would be when it did not match: later runs skip it."""
    return path.with_suffix(".rejected")


def session_options() -> Any:
    """ONNX Runtime options for every model this package runs (embedder, cross-encoder).

    One thread per CPU, all graph optimisations, and no spinning: by default idle worker
    threads busy-wait for the next operator, which on a small machine takes the CPU from
    Chroma, BM25 and other requests; without it a short call is as fast on an idle
    machine, and much faster on a busy one (benchmarks/README.md).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, os.cpu_count() or 1)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


class OnnxEmbedder:
    """Runs an exported model: tokenizers + ONNX Runtime, mean pooling, unit length."""

    def __init__(self, model: str | bytes, layout: Layout) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            self.session = ort.InferenceSession(
                model, session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise ExportError(f"ONNX Runtime cannot load it ({exc})") from exc
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.inputs = {i.name for i in self.session.get_inputs()}
        tok = Tokenizer.from_file(str(layout.folder / "tokenizer.json"))
        # tokenizer.json may carry its own (shorter) truncation; sentence-transformers uses
        # max_seq_length from sentence_bert_config.json.
        tok.enable_truncation(max_length=layout.max_seq_length)
        padding = tok.padding or {}
        pad_token = str(padding.get("pad_token", "[PAD]"))
        pad_id = padding.get("pad_id", tok.token_to_id(pad_token) or 0)
        tok.enable_padding(pad_id=int(pad_id), pad_token=pad_token)
        self.tokenizer = tok
        self.layout = layout

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        import numpy as np

        # Similar lengths together: each batch is padded to its longest text only.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.layout.dimension), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            out[rows] = self._batch([texts[j].strip() for j in rows])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        enc = self.tokenizer.encode_batch(texts)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": mask,
        }
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        hidden = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def self_check(self, expected_fingerprint: str) -> None:
        """Raise :class:`ExportError` unless this is a complete export of the expected model."""
        import numpy as np

        meta = self.metadata
        if meta.get("rag.format") != FORMAT or meta.get("rag.fingerprint") != expected_fingerprint:
            raise ExportError("it was made by another version or for other model files")
        try:
            expected = np.array(json.loads(meta["rag.check_vector"]), dtype=np.float32)
        except (KeyError, ValueError) as exc:
            raise ExportError("its self-check vector is missing") from exc
        try:
            got = self.encode([_SELF_CHECK])[0]
        except Exception as exc:  # e.g. a graph with other inputs or outputs
            raise ExportError(f"it does not run ({exc})") from exc
        if got.shape != expected.shape or float(got @ expected) < MIN_COSINE:
            raise ExportError("it no longer reproduces the vectors it was checked against")


def load_cached(path: Path, layout: Layout) -> OnnxEmbedder:
    """Open a cached export and check it; raises :class:`ExportError` if it is unusable."""
    encoder = OnnxEmbedder(str(path), layout)
    encoder.self_check(fingerprint(layout))
    return encoder


def export(st_model: Any, layout: Layout) -> tuple[OnnxEmbedder, bytes]:
    """Export a loaded SentenceTransformer and check it against that model's own vectors.

    Returns the checked model, ready to use, and the bytes to cache. Raises
    :class:`ExportError` when the export fails, :class:`ExportMismatch` when its vectors
    differ (cos < 0.9999).
    """
    import numpy as np

    try:
        model_bytes = _export_bytes(st_model)
    except Exception as exc:  # torch.onnx raises many types; any of them means "no export"
        raise ExportError(f"torch.onnx.export failed: {exc}") from exc
    encoder = OnnxEmbedder(model_bytes, layout)
    # One text per batch: padding the short probes to the long one's 256 tokens costs seconds.
    expected = np.asarray(
        st_model.encode(
            list(PROBES),
            batch_size=1,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )
    got = encoder.encode(list(PROBES), batch_size=1)
    cosines = (got * expected).sum(axis=1) if got.shape == expected.shape else np.zeros(1)
    if float(cosines.min()) < MIN_COSINE:
        raise ExportMismatch(
            f"its vectors differ from sentence-transformers' (lowest cosine "
            f"{float(cosines.min()):.5f} < {MIN_COSINE})"
        )
    cached = _with_metadata(
        model_bytes,
        {
            "rag.format": FORMAT,
            "rag.fingerprint": fingerprint(layout),
            "rag.check_vector": json.dumps([round(float(x), 7) for x in got[0]]),
        },
    )
    return encoder, cached


def _export_bytes(st_model: Any) -> bytes:
    import inspect

    import torch

    modules = [type(m).__name__ for m in st_model]
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ExportError(f"unsupported modules {modules}")
    first = st_model[0]
    hf_model = getattr(first, "auto_model", None) or first.model
    with_types = "token_type_ids" in inspect.signature(hf_model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf_model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    example = (ids, ids, torch.zeros_like(ids))[: len(names)]
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = Path(tmp) / "model.onnx"
        torch.onnx.export(
            Hidden().eval(),
            example,
            out,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=OPSET,
            dynamo=False,
        )
        return out.read_bytes()


def _with_metadata(model_bytes: bytes, props: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(model_bytes)
    onnx.helper.set_model_props(model, props)
    return bytes(model.SerializeToString())
