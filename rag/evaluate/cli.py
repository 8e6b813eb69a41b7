"""``rag eval SUITE``: run a suite, print the table, write JSON/HTML, enforce ``--min``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``eval`` subcommand."""
    p = sub.add_parser("eval", help="run an evaluation suite (evals/*.yaml) and report metrics")
    p.add_argument("suite", help="suite file: .yaml or .jsonl (e.g. evals/seed.yaml)")
    p.add_argument("--k", type=int, default=None, help="passages retrieved per answer")
    p.add_argument("--json", dest="json_out", help="write every case and metric to this file")
    p.add_argument("--html", dest="html_out", help="write a self-contained HTML report here")
    p.add_argument("--baseline", help="an earlier --json report: show deltas and regressions")
    p.add_argument(
        "--min",
        dest="minimums",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when our METRIC is below VALUE (repeatable)",
    )
    p.add_argument("--compare", default=None, help="comparison pipelines, e.g. naive ('' for none)")
    p.add_argument(
        "--modes", default=None, help="retrieval modes to compare: dense,lexical,hybrid,rerank"
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument(
        "--no-as-of",
        action="store_true",
        help="ask dated cases (RealTimeQA) without their date: no as_of, no date resolution",
    )
    p.add_argument(
        "--split",
        choices=("tune", "test", "all"),
        default=None,
        help="only the tuning or the test part of the suite's recorded split",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def cmd_eval(args: argparse.Namespace) -> int:
    from ..config import Settings
    from . import (
        apply_baseline,
        apply_thresholds,
        parse_thresholds,
        print_report,
        run_suite,
        write_html,
        write_json,
    )

    minimums = parse_thresholds(args.minimums)  # fail on a typo before the run, not after
    overrides = {"index_dir": args.index} if getattr(args, "index", None) else {}
    report = run_suite(
        args.suite,
        settings=Settings.from_env(**overrides),
        k=args.k,
        limit=args.limit,
        compare=_names(args.compare),
        modes=_names(args.modes),
        progress=not args.quiet and sys.stderr.isatty(),
        split=args.split,
        as_of=not args.no_as_of,
    )
    if args.baseline:
        apply_baseline(report, args.baseline)
    apply_thresholds(report, minimums)
    print_report(report)
    if args.json_out:
        write_json(report, Path(args.json_out))
    if args.html_out:
        write_html(report, Path(args.html_out))
    return 0 if report.ok else 1
