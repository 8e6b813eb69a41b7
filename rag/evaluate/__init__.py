"""Evaluation: suites of questions, metrics, reports, and comparisons with a naive pipeline.

>>> from rag.evaluate import run_suite
>>> report = run_suite("evals/seed.yaml", limit=5)
>>> report.aggregates["ours"]["recall"], report.to_dict()["cases"][0]["answer"]

``rag eval SUITE`` runs the same thing from the command line (see evals/README.md).
"""

from __future__ import annotations

from .htmlreport import render_html, write_html
from .report import apply_baseline, apply_thresholds, parse_thresholds, print_report, write_json
from .runner import CaseResult, Report, run_suite
from .suite import Case, Suite, SuiteError, load_suite

__all__ = [
    "Case",
    "CaseResult",
    "Report",
    "Suite",
    "SuiteError",
    "apply_baseline",
    "apply_thresholds",
    "load_suite",
    "parse_thresholds",
    "print_report",
    "render_html",
    "run_suite",
    "write_html",
    "write_json",
]
