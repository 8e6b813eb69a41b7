"""Evaluation: suites of questions, metrics, reports, and comparisons with a naive pipeline.

>>> from rag.evaluate import run_suite
>>> report = run_suite("evals/seed.yaml", limit=5)
>>> report.aggregates["ours"]["recall"], report.to_dict()["cases"][0]["answer"]

A run is four steps, each usable alone: ``plan_suite`` (the suite, its settings, the cases),
``run_cases`` (answers and retrievals, timed; nothing scored), ``score_runs`` (per-case
metrics; the answerer's decision read from ``Answer.trace``) and ``compare_results``
(aggregates, systems and modes side by side, calibration).

``rag eval SUITE`` runs the same thing from the command line (see evals/README.md).
"""

from __future__ import annotations

from .htmlreport import render_html, write_html
from .report import apply_baseline, apply_thresholds, parse_thresholds, print_report, write_json
from .runner import (
    CaseResult,
    Plan,
    Report,
    Run,
    compare_results,
    plan_suite,
    run_cases,
    run_suite,
    score_runs,
)
from .suite import Case, Suite, SuiteError, load_suite

__all__ = [
    "Case",
    "CaseResult",
    "Plan",
    "Report",
    "Run",
    "Suite",
    "SuiteError",
    "apply_baseline",
    "apply_thresholds",
    "compare_results",
    "load_suite",
    "parse_thresholds",
    "plan_suite",
    "print_report",
    "render_html",
    "run_cases",
    "run_suite",
    "score_runs",
    "write_html",
    "write_json",
]
