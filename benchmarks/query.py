"""Query benchmark, run in its own process so its peak memory is that of one serving app.

Warm latency of ``rag.answer()`` and ``rag.retrieve()`` over questions from the
MultiHop-RAG dev set, with the extractive answerer, reranking on or off. Prints one
JSON object. With ``--profile FILE`` it also writes a pyinstrument profile of
``answer()`` (if pyinstrument is installed).

    python benchmarks/query.py --index benchmarks/.cache/10k/index --rerank 0 --n 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from corpus import REPO

QUESTIONS = REPO.parent / "shared" / "benchmarks" / "multihop-rag" / "queries-dev.jsonl"


def questions(n: int) -> list[str]:
    """Alternately a MultiHop-RAG dev question and a question about one of its facts.

    The dev questions name outlets and pairings that the synthetic corpus shuffles, so
    most are refused early; the fact questions ("Is it true that <fact>?") are answerable
    and exercise the whole answerer. Both paths matter for latency.
    """
    with QUESTIONS.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    dev = [str(r["question"]) for r in records]
    facts = [
        "Is it true that " + str(e["fact"]).strip().rstrip(".") + "?"
        for r in records
        for e in r["evidence"][:1]
        if 40 <= len(str(e["fact"])) <= 300
    ]
    mixed = [q for pair in zip(dev, facts, strict=False) for q in pair]
    return mixed[:n]


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (nearest-rank p95: no interpolation beyond the data)."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
        "n": len(ordered),
    }


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB.

    ``VmHWM`` rather than ``ru_maxrss``: the latter keeps the parent's high-water mark
    across ``exec``.
    """
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (
        int(fields["VmRSS"].split()[0]) / 1024,
        int(fields["VmHWM"].split()[0]) / 1024,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--rerank", type=int, default=0)
    parser.add_argument("--n", type=int, default=40, help="questions timed per measurement")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of answer()")
    args = parser.parse_args()

    import rag
    from rag.config import Settings
    from rag.pipeline import get_pipeline

    settings = Settings.from_env(index_dir=args.index, rerank=bool(args.rerank))
    # Every timed call starts without remembered embeddings: the synthetic corpus repeats
    # sentences across articles far more than real news does, which would flatter reuse.
    forget = get_pipeline(settings).index.embedder.forget_recent
    qs = questions(args.n)
    out: dict[str, Any] = {"rerank": bool(args.rerank)}

    started = time.perf_counter()
    rag.answer(qs[0], settings=settings)  # loads models, opens Chroma, loads the BM25 cache
    out["first_answer_s"] = round(time.perf_counter() - started, 2)
    for q in qs[1:4]:  # warm-up beyond the first call: allocator, caches, ONNX arenas
        rag.answer(q, settings=settings)

    timings: dict[str, list[float]] = {"answer": [], "retrieve": [], "answered": [], "refused": []}
    cpu: list[float] = []  # process CPU time: less sensitive than wall time to other load
    for q in qs:
        forget()
        t0, c0 = time.perf_counter(), time.process_time()
        a = rag.answer(q, settings=settings)
        took = time.perf_counter() - t0
        cpu.append(time.process_time() - c0)
        timings["answer"].append(took)
        timings["refused" if a.refused else "answered"].append(took)
        forget()
        t0 = time.perf_counter()
        rag.retrieve(q, settings=settings)
        timings["retrieve"].append(time.perf_counter() - t0)
    out["answer"] = percentiles(timings["answer"])
    out["answer_cpu"] = percentiles(cpu)
    out["retrieve"] = percentiles(timings["retrieve"])
    for path in ("answered", "refused"):
        out[f"answer_{path}"] = percentiles(timings[path]) if timings[path] else {"n": 0}
    current, peak = rss_mb()
    out["rss_mb"] = round(current)
    out["peak_rss_mb"] = round(peak)

    if args.profile:
        try:
            from pyinstrument import Profiler
        except ImportError:
            out["profile"] = "pyinstrument is not installed: pip install pyinstrument"
        else:
            profiler = Profiler(interval=0.001)
            with profiler:
                for q in qs[:20]:
                    forget()
                    rag.answer(q, settings=settings)
            args.profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
            out["profile"] = str(args.profile)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
