"""Ingest benchmark: `rag ingest` throughput against the encoder alone doing the same work.

The first ingest of a corpus is measured once and cached (``.cache/<size>/ingest.json``
next to the index it built), so later runs neither re-embed nor lose the numbers.
Every run measures the no-change re-sync, which is what users wait for day to day.

    python benchmarks/ingest.py --size 10k
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from corpus import CACHE, REPO, build, corpus_dir

# Raw encode is timed on a random sample of the same passages: on a 2-CPU machine
# encoding all 100k passages a second time would double a run that already takes hours.
ENCODE_SAMPLE = int(os.environ.get("BENCH_ENCODE_SAMPLE", "1000"))


def index_dir(name: str) -> Path:
    return CACHE / name / "index"


def bench_env(index: Path) -> dict[str, str]:
    """The environment of a measured subprocess: no developer RAG_* settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, peak RSS of that process in MB, stdout).

    The peak is the child's own ``VmHWM``, sampled while it runs. ``ru_maxrss`` from
    ``wait4`` would not do: Linux carries the parent's high-water mark over ``exec``, so
    a child of a process that had loaded a model would report the parent's memory.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)
    chunks: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: chunks.append(stdout.read()), daemon=True)
    reader.start()
    peak_kb = 0
    while proc.poll() is None:
        peak_kb = max(peak_kb, _hwm_kb(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    reader.join()
    out = "".join(chunks)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with {proc.returncode}:\n{out[-2000:]}")
    return wall, peak_kb / 1024, out


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _hwm_kb(pid: int) -> int:
    """Peak resident memory of a running process in kB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def ingest_cmd(name: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "ingest", "--json", "-q", str(corpus_dir(name))]


def first_ingest(name: str) -> dict[str, Any]:
    """Build the index once (cached): ingest throughput, peak memory, raw encode ratio."""
    cached = CACHE / name / "ingest.json"
    if cached.exists():
        return {**json.loads(cached.read_text()), "cached": True}
    summary = build(name)
    index = index_dir(name)
    # An earlier run that was stopped mid-ingest leaves part of the index; the sync then
    # embeds only the rest, so the throughput holds but the totals cover part of the corpus.
    resumed = (index / "chroma").exists()
    before = _children_cpu_s()
    wall, rss, out = run_measured(ingest_cmd(name), bench_env(index))
    ingest_cpu = _children_cpu_s() - before
    report = json.loads(out)
    if report["added"] and not report["embedded"]:
        raise RuntimeError(f"ingest of {name} embedded nothing: {report}")
    encode = raw_encode(name)
    result = {
        "size": name,
        "passages": report["embedded"],
        "articles": len(report["added"]),
        "ingest_wall_s": round(wall, 2),
        "ingest_sync_s": round(report["seconds"], 2),
        "ingest_passages_per_s": round(report["embedded"] / report["seconds"], 2),
        "ingest_peak_rss_mb": round(rss),
        **encode,
        "ingest_vs_raw_encode": round(
            report["embedded"] / report["seconds"] / encode["raw_encode_passages_per_s"], 3
        ),
        # The same ratio in CPU time (the whole ingest process, imports and Chroma included):
        # wall time on a shared machine depends on what else runs, CPU time much less.
        "ingest_cpu_s": round(ingest_cpu, 2),
        "ingest_vs_raw_encode_cpu": round(
            encode["raw_encode_cpu_s"]
            / ingest_cpu
            * report["embedded"]
            / encode["raw_encode_passages"],
            3,
        ),
        "resumed_partial_index": resumed,
        "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
        "corpus": summary,
    }
    cached.write_text(json.dumps(result, indent=2))
    return {**result, "cached": False}


def passage_pairs(name: str) -> list[tuple[Any, Any]]:
    """(article, chunk) of every passage of the corpus, as ingest chunks it."""
    from rag.chunking import chunk_article
    from rag.config import Settings
    from rag.loaders import load_file

    settings = Settings.from_env()
    pairs: list[tuple[Any, Any]] = []
    for path in sorted(corpus_dir(name).rglob("*.md")):
        for _, article in load_file(path).articles:
            chunks = chunk_article(article, settings.chunk_size, settings.chunk_overlap)
            pairs.extend((article, c) for c in chunks)
    return pairs


def raw_encode(name: str) -> dict[str, Any]:
    """Passages per second of the encoder alone, model loaded, doing what ingest embeds.

    The same engine as ingest (the embedder's bulk path: the cached ONNX export) on the
    same texts: a random sample of whole articles' passages, each with its title and
    outlet, then their sentences (what ``rag.index.sentence_vectors`` stores), in batches
    of the size ingest uses. Only the storing is left out.
    """
    from rag.config import Settings
    from rag.index import embedding_text, sentence_vectors
    from rag.models import get_embedder

    settings = Settings.from_env()
    pairs = passage_pairs(name)
    per_doc = Counter(a.doc_id for a, _ in pairs)
    docs = sorted(per_doc)
    random.Random(0).shuffle(docs)
    picked: set[str] = set()
    count = 0
    for doc in docs:
        if count >= ENCODE_SAMPLE:
            break
        picked.add(doc)
        count += per_doc[doc]
    sample = [(a, c) for a, c in pairs if a.doc_id in picked]
    embedder = get_embedder(settings.embed_model, settings.batch_size, settings.cache_dir)
    embedder.encode([embedding_text(a, c) for a, c in sample[:8]], progress=lambda n: None)
    limit = settings.batch_size * 16  # ingest's batch of chunks
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(sample), limit):
        batch = sample[i : i + limit]
        embedder.encode([embedding_text(a, c) for a, c in batch], progress=lambda n: None)
        sentence_vectors(embedder, [c.text for _, c in batch])
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "raw_encode_engine": "onnx" if embedder.onnx() is not None else "torch",
        "raw_encode_cpu_s": round(cpu, 2),
        "raw_encode_passages": len(sample),
        "raw_encode_s": round(seconds, 2),
        "raw_encode_passages_per_s": round(len(sample) / seconds, 2),
    }


def resync(name: str) -> dict[str, Any]:
    """No-change re-syncs: whole process (what a user waits for) and the sync itself.

    First with the sync stamp removed, so the manifest is compared in full (what happens
    after any other write to the index, e.g. an upload), then the plain repeat, which the
    stamp answers without opening Chroma.
    """
    (index_dir(name) / "sync-stamp.json").unlink(missing_ok=True)
    full = _resync_once(name)
    repeat = _resync_once(name)
    return {
        "resync_articles": repeat["articles"],
        "resync_wall_s": repeat["wall_s"],
        "resync_sync_s": repeat["sync_s"],
        "resync_peak_rss_mb": repeat["peak_rss_mb"],
        "resync_full_wall_s": full["wall_s"],
        "resync_full_sync_s": full["sync_s"],
        "resync_full_peak_rss_mb": full["peak_rss_mb"],
    }


def _resync_once(name: str) -> dict[str, Any]:
    wall, rss, out = run_measured(ingest_cmd(name), bench_env(index_dir(name)))
    report = json.loads(out)
    if report["embedded"] or report["added"] or report["removed"]:
        raise RuntimeError(f"re-sync of an unchanged corpus changed the index: {report}")
    return {
        "articles": len(report["unchanged"]),
        "wall_s": round(wall, 2),
        "sync_s": round(report["seconds"], 2),
        "peak_rss_mb": round(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1k")
    name = parser.parse_args().size
    print(json.dumps({**first_ingest(name), **resync(name)}, indent=2))


if __name__ == "__main__":
    main()
