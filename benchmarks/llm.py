"""Local LLM benchmark: time to first token and to the full answer, refusals, flagged
sentences and peak memory, beside the extractive answerer on the same questions.

Questions are the test part of a suite (its recorded split), answered over the suite's
index as ``rag eval`` builds it. Run in its own process, on an idle machine:

    python benchmarks/llm.py evals/multihop.yaml --n 20 --threads 2

Prints one JSON object and writes it to ``benchmarks/results/llm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from query import percentiles, rss_mb

from corpus import REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--n", type=int, default=20, help="questions of the test part")
    parser.add_argument("--threads", type=int, default=0, help="model threads (0: all cores)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/llm.json")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    import rag
    from rag.config import Settings
    from rag.evaluate.runner import suite_settings
    from rag.evaluate.suite import load_suite

    suite = load_suite(args.suite)
    cases = [c for c in suite.part("test") if c.answerable][: args.n]
    base = suite_settings(suite, Settings.from_env(), None)
    rag.ingest(suite.corpus, settings=base)
    local = base.replace(answerer="llm", llm="local", llm_threads=args.threads)

    rows: list[dict[str, Any]] = []
    rag.answer(cases[0].question, settings=local)  # load the model, fill the prefix cache
    for case in cases:
        t0 = time.perf_counter()
        extractive = rag.answer(case.question, settings=base)
        t_extractive = time.perf_counter() - t0
        t0 = time.perf_counter()
        shown = None  # the quotes, shown before the model runs
        first = None  # the model's first token
        final = None
        for piece in rag.stream(case.question, settings=local):
            if isinstance(piece, rag.Answer):
                final = piece
            elif shown is None:
                shown = time.perf_counter() - t0
            elif first is None and piece.strip():
                first = time.perf_counter() - t0
        total = time.perf_counter() - t0
        assert final is not None
        # The quotes answer (after the model's yes or no, if it gave one): its own sentences
        # did not hold up, or it wrote only the verdict. Their unsupported parts are not its.
        verdict = final.text.removeprefix("Yes. ").removeprefix("No. ")
        quotes = not final.refused and extractive.text.endswith(verdict)
        rows.append(
            {
                "id": case.id,
                "extractive_s": t_extractive,
                "quotes_s": shown,
                "first_s": None if final.refused else first,
                "full_s": total,
                "refused": final.refused,
                "extractive_refused": extractive.refused,
                "flagged": 0 if quotes else len(final.unsupported),
                "sentences": max(1, final.text.count("[")),
                "fallback": quotes,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    answered = [r for r in rows if not r["refused"]]
    result = {
        "suite": str(args.suite),
        "questions": len(rows),
        "threads": args.threads or os.cpu_count(),
        "refused": sum(r["refused"] for r in rows),
        "quotes_after_verdict": sum(r["fallback"] for r in answered),
        "flagged_sentences": sum(r["flagged"] for r in rows),
        "quotes_shown": percentiles([r["quotes_s"] for r in answered if r["quotes_s"]]),
        "first_token": percentiles([r["first_s"] for r in answered if r["first_s"] is not None]),
        "full_answer": percentiles([r["full_s"] for r in answered]),
        "extractive_full": percentiles([r["extractive_s"] for r in rows]),
        "peak_rss_mb": rss_mb()[1],
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
