"""Fit the answerability model on the tuning parts of the eval suites, and only on them.

    python evals/fit_answerability.py [--suites seed,multihop,realtimeqa] [--out FILE]

Runs every tuning case through ``rag.answer`` with nothing refused, and every tuning question
once more against another suite's articles (unanswerable there), reads the signals from each
answer's trace, fits a logistic regression (standardised signals, non-negative weights,
balanced classes; scipy's L-BFGS-B), and picks the operating point on the same tuning rows:
the threshold with the best balanced accuracy. Writes ``rag/answering/answerability.json``
with the weights, the threshold and the tuning curve. The test parts are never read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

from rag.answering.answerability import MODEL_FILE
from rag.config import Settings
from rag.evaluate import run_suite

HERE = Path(__file__).resolve().parent
# The signals the model weighs: evidence that the passages answer the question. Retrieval
# cosines are recorded in every trace but left out: they measure how long the passages are
# as much as whether they answer (short questions score low against long news passages).
MODEL_SIGNALS = (
    "ce_best",
    "ce_part_min",
    "ce_typed",
    "coverage",
    "name_coverage",
    "title_overlap",
)
L2 = 0.01
SUITES = {
    "seed": HERE / "seed.yaml",
    "multihop": HERE / "multihop.yaml",
    "realtimeqa": HERE / "realtimeqa.yaml",
}


def collect(names: list[str]) -> tuple[list[dict[str, float]], list[int], list[str]]:
    rows: list[dict[str, float]] = []
    labels: list[int] = []
    origin: list[str] = []
    settings = Settings.from_env(answer_threshold=0.0)
    for name in names:
        report = run_suite(SUITES[name], settings=settings, split="tune", compare=(), modes=())
        for case in report.cases:
            if not case.signals:  # summary requests are not decided by the model
                continue
            rows.append(case.signals)
            labels.append(int(case.answerable))
            origin.append(name)
        print(f"{name}: {len(report.cases)} tuning cases", file=sys.stderr)
    return rows, labels, origin


# Tuning questions asked of another suite's articles are unanswerable there: they add the
# negatives the suites have few of (questions about stories the collection does not hold).
CROSS = {"seed": "multihop", "realtimeqa": "multihop", "multihop": "realtimeqa"}


def collect_cross(names: list[str]) -> tuple[list[dict[str, float]], list[int], list[str]]:
    import rag
    from rag.evaluate.runner import suite_settings
    from rag.evaluate.suite import load_suite

    rows: list[dict[str, float]] = []
    base = Settings.from_env(answer_threshold=0.0)
    for name in names:
        other = CROSS.get(name)
        if other not in names:
            continue
        asked = load_suite(SUITES[name])
        target = suite_settings(load_suite(SUITES[other]), base, None)
        for case in asked.part("tune"):
            if case.history:
                continue
            answer = rag.answer(case.question, settings=target)
            if answer.trace.signals:
                rows.append(dict(answer.trace.signals))
        print(f"{name} asked of {other}: {len(asked.part('tune'))} questions", file=sys.stderr)
    return rows, [0] * len(rows), [f"cross:{n}" for n in range(len(rows))]


def fit(rows: list[dict[str, float]], labels: list[int]) -> dict[str, object]:
    """Logistic regression whose weights are all non-negative: more support (a higher logit,
    more of the question covered) never makes a question look less answerable. Classes are
    weighted equally; a small L2 penalty keeps the weights of correlated signals modest."""
    from scipy.optimize import minimize

    x = np.array([[r.get(s, 0.0) for s in MODEL_SIGNALS] for r in rows], dtype=float)
    y = np.array(labels, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    weight = np.where(y == 1, 0.5 / max(1.0, y.sum()), 0.5 / max(1.0, (1 - y).sum()))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        eps = 1e-12
        value = -np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        value += L2 * float(w @ w)
        grad_logit = weight * (p - y)
        grad = np.append(z.T @ grad_logit + 2 * L2 * w, grad_logit.sum())
        return float(value), grad

    start = np.zeros(len(MODEL_SIGNALS) + 1)
    bounds = [(0.0, None)] * len(MODEL_SIGNALS) + [(None, None)]
    result = minimize(loss, start, jac=True, bounds=bounds, method="L-BFGS-B")
    w, b = result.x[:-1], result.x[-1]
    prob = 1.0 / (1.0 + np.exp(-(z @ w + b)))
    curve = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        refused = prob < t
        answerable = y == 1
        frr = float((refused & answerable).sum() / max(1, answerable.sum()))
        recall = float((refused & ~answerable).sum() / max(1, (~answerable).sum()))
        tp = float((refused & ~answerable).sum())
        precision = tp / float(refused.sum()) if refused.sum() else None
        curve.append(
            {
                "threshold": float(t),
                "refusal_precision": precision,
                "refusal_recall": recall,
                "false_refusal_rate": frr,
            }
        )
    # Balanced accuracy; ties go to the lower threshold (fewer refusals of answerable cases).
    best = max(
        curve, key=lambda c: (c["refusal_recall"] - c["false_refusal_rate"], -c["threshold"])
    )
    return {
        "weights": dict(zip(MODEL_SIGNALS, (float(v) for v in w), strict=True)),
        "bias": float(b),
        "mean": dict(zip(MODEL_SIGNALS, mean.tolist(), strict=True)),
        "scale": dict(zip(MODEL_SIGNALS, scale.tolist(), strict=True)),
        "threshold": best["threshold"],
        "tuning_curve": curve,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", default="seed,multihop,realtimeqa")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument(
        "--rows", type=Path, help="keep the collected signals in this file; reuse it if it exists"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.suites.split(",") if n.strip()]
    if args.rows and args.rows.exists():
        saved = json.loads(args.rows.read_text(encoding="utf-8"))
        rows, labels, origin = saved["rows"], saved["labels"], saved["origin"]
    else:
        rows, labels, origin = collect(names)
        more, no, where = collect_cross(names)
        rows, labels, origin = rows + more, labels + no, origin + ["cross"] * len(where)
        if args.rows:
            data = {"rows": rows, "labels": labels, "origin": origin}
            args.rows.write_text(json.dumps(data), encoding="utf-8")
    fitted = fit(rows, labels)
    fitted["fitted_on"] = {
        "date": dt.date.today().isoformat(),
        "split": "tune",
        "cases": {n: origin.count(n) for n in [*names, "cross"]},
        "answerable": int(sum(labels)),
        "unanswerable": int(len(labels) - sum(labels)),
    }
    args.out.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: fitted[k] for k in ("weights", "threshold", "fitted_on")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
