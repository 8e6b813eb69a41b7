"""RealTimeQA with and without answering as of the quiz date, and with and without the
recency prior: correct / strict / hit@10 for each variant on one part of the dev split.

    .venv/bin/python evals/realtimeqa_dates.py --split tune [--recency 0.3,0.6] [--naive]

Reuses the suite's cached index (``<RAG_INDEX_DIR>/evals/realtimeqa-dev``); results go to
stdout as a Markdown table and to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.config import Settings
from rag.evaluate import run_suite

SUITE = Path(__file__).resolve().parent / "realtimeqa.yaml"


def row(name: str, report: object, system: str = "ours") -> dict[str, object]:
    agg = report.aggregates[system]  # type: ignore[attr-defined]
    modes = report.modes  # type: ignore[attr-defined]
    hit = modes.get("naive" if system == "naive" else "hybrid", {}).get("recall@10")
    return {
        "variant": name,
        "n": len(report.cases),  # type: ignore[attr-defined]
        "correct": agg.get("answer_correct"),
        "strict": agg.get("strict_correct"),
        "hit@10": hit,
        "recall@4": modes.get("naive" if system == "naive" else "hybrid", {}).get("recall@4"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="tune")
    parser.add_argument("--recency", default="0.3")
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--only", default="", help="comma-separated variant names")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.recency.split(",") if w.strip()]
    variants: list[tuple[str, bool, float]] = [("no as_of", False, 0.0), ("as_of", True, 0.0)]
    for w in weights:
        variants += [(f"no as_of, recency {w:g}", False, w), (f"as_of, recency {w:g}", True, w)]
    if args.only:
        wanted = {v.strip() for v in args.only.split(",")}
        variants = [v for v in variants if v[0] in wanted]
    rows = []
    base = Settings.from_env()
    for i, (name, as_of, recency) in enumerate(variants):
        naive = args.naive and i == 0
        report = run_suite(
            SUITE,
            settings=base.replace(recency=recency),
            split=args.split,
            compare=("naive",) if naive else (),
            modes=("hybrid",),
            as_of=as_of,
            index_dir=base.index_dir / "evals" / "realtimeqa-dev",
        )
        rows.append(row(name, report))
        if naive:
            rows.append(row("naive LangChain", report, "naive"))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"| RealTimeQA {args.split} | n | correct | strict | hit@10 | recall@4 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            f"{v:.3f}" if isinstance(v, float) else "—" if v is None else str(v)
            for v in (r["n"], r["correct"], r["strict"], r["hit@10"], r["recall@4"])
        ]
        print(f"| {r['variant']} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
