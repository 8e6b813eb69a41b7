"""Reports: thresholds, baseline deltas, the terminal table, JSON, a self-contained HTML page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .runner import LOWER_IS_BETTER, Report

# The metrics shown, in order; rates in [0, 1] are charted as bars.
SHOWN = (
    "recall",
    "mrr",
    "fact_recall",
    "citation_precision",
    "citation_recall",
    "key_phrases",
    "context_key_phrases",
    "answer_correct",
    "entity_answered",
    "evidence_cited",
    "yes_no_correct",
    "strict_correct",
    "partial_flagged",
    "similarity",
    "faithfulness",
    "refusal_precision",
    "refusal_recall",
    "false_refusal_rate",
    "pass_rate",
    "latency_p50",
    "latency_p95",
)
RATES = tuple(n for n in SHOWN if not n.startswith("latency"))
TOLERANCE = 0.005  # a drop smaller than this is noise, not a regression


def parse_thresholds(items: Sequence[str]) -> dict[str, float]:
    """``["recall=0.9", ...]`` -> ``{"recall": 0.9}``; unknown metrics are an error."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SHOWN:
            raise ConfigError(
                f"--min {item!r}: use METRIC=VALUE with METRIC one of {', '.join(SHOWN)}"
            )
        try:
            out[name] = float(value)
        except ValueError:
            raise ConfigError(f"--min {item!r}: {value!r} is not a number") from None
    return out


def apply_thresholds(report: Report, minimums: dict[str, float]) -> Report:
    """Record, for each threshold, whether our aggregate reached it (missing counts as failing)."""
    ours = report.aggregates["ours"]
    report.thresholds = [
        {
            "metric": name,
            "min": floor,
            "value": ours.get(name),
            "passed": ours.get(name) is not None and float(ours[name] or 0.0) >= floor,
        }
        for name, floor in minimums.items()
    ]
    return report


def apply_baseline(report: Report, baseline: str | Path | dict[str, Any]) -> Report:
    """Deltas of our aggregates against an earlier JSON report, and the cases that regressed."""
    if isinstance(baseline, dict):
        before = baseline
    else:
        try:
            before = json.loads(Path(baseline).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"--baseline {baseline}: not a JSON report from `rag eval --json` ({exc})"
            ) from None
    old = before.get("aggregates", {}).get("ours", {})
    now = report.aggregates["ours"]
    deltas: dict[str, float] = {}
    regressions: list[str] = []
    for name in SHOWN:
        if now.get(name) is None or old.get(name) is None:
            continue
        delta = float(now[name] or 0.0) - float(old[name])
        deltas[name] = delta
        worse = delta > 0 if name in LOWER_IS_BETTER else delta < 0
        # Latency is noisy: only a quarter slower counts.
        margin = 0.25 * float(old[name]) if name.startswith("latency") else TOLERANCE
        if worse and abs(delta) > margin:
            regressions.append(name)
    passed_before = {c["id"]: c["passed"] for c in before.get("cases", [])}
    report.baseline = {
        "started": before.get("started", ""),
        "aggregates": old,
        "deltas": deltas,
        "regressions": regressions,
        "cases_regressed": [
            c.id for c in report.cases if passed_before.get(c.id) is True and not c.passed
        ],
        "cases_fixed": [
            c.id for c in report.cases if passed_before.get(c.id) is False and c.passed
        ],
    }
    return report


def write_json(report: Report, path: str | Path) -> None:
    Path(path).write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def fmt(value: Any, name: str = "") -> str:
    if value is None:
        return "—"
    if name.startswith("latency"):
        return f"{float(value):.2f}s"
    return f"{float(value):.3f}"


# ------------------------------------------------------------------------------------ terminal
def print_report(report: Report, console: Any = None) -> None:
    """Metrics (ours and naive side by side), per-tag pass rates, modes, failures, thresholds."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    systems = list(report.aggregates)
    n = len(report.cases)
    table = Table(title=f"{report.suite}: {n} cases, k={report.settings['k']}")
    table.add_column("metric")
    for system in systems:
        table.add_column(system, justify="right")
    if report.baseline:
        table.add_column("Δ baseline", justify="right")
    for name in SHOWN:
        row = [name] + [fmt(report.aggregates[s].get(name), name) for s in systems]
        if report.baseline:
            d = report.baseline["deltas"].get(name)
            mark = " ✗" if name in report.baseline["regressions"] else ""
            row.append("—" if d is None else f"{d:+.3f}{mark}")
        table.add_row(*row)
    console.print(table)

    tags = Table(title="per tag / question type")
    for col in ("tag", "cases", "pass", "recall", "answer_correct"):
        tags.add_column(col, justify="left" if col == "tag" else "right")
    if "naive" in report.by_tag:
        tags.add_column("naive recall", justify="right")
    for tag, agg in report.by_tag["ours"].items():
        row = [tag, fmt(agg["cases"])[:-4], fmt(agg.get("pass_rate")), fmt(agg.get("recall"))]
        row.append(fmt(agg.get("answer_correct")))
        if "naive" in report.by_tag:
            row.append(fmt(report.by_tag["naive"][tag].get("recall")))
        tags.add_row(*row)
    console.print(tags)

    if report.modes:
        modes = Table(title="retrieval comparison (query after follow-up handling)")
        cols = list(next(iter(report.modes.values())))
        modes.add_column("mode")
        for col in cols:
            modes.add_column(col, justify="right")
        for mode, agg in report.modes.items():
            modes.add_row(mode, *[fmt(agg.get(c), c) for c in cols])
        console.print(modes)

    sweep = report.calibration.get("sweep") or []
    if sweep:
        cal = Table(title="refusals by RAG_ANSWER_THRESHOLD (P(answerable) below it)")
        for col in ("threshold", "refusal_precision", "refusal_recall", "false_refusal_rate"):
            cal.add_column(col, justify="right")
        for row in sweep:
            cal.add_row(f"{row['threshold']:.1f}", *[fmt(row[c]) for c in list(row)[1:]])
        console.print(cal)

    failing = report.failures
    if failing:
        console.print(f"[bold]{len(failing)} failing case(s):[/bold]")
        for c in failing[:20]:
            console.print(f"  {escape_rich(c.id)}: {escape_rich(c.question)}", highlight=False)
            console.print(f"      → {escape_rich(c.answer[:160])}", highlight=False)
    if report.baseline and report.baseline["regressions"]:
        console.print(
            f"[red]regressed vs baseline:[/red] {', '.join(report.baseline['regressions'])}"
        )
    for t in report.thresholds:
        status = "[green]ok[/green]" if t["passed"] else "[red]BELOW[/red]"
        console.print(f"  --min {t['metric']}={t['min']}: {fmt(t['value'], t['metric'])} {status}")


def escape_rich(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)
