"""Fit the answerability model on the tuning parts of the eval suites, and only on them.

    python evals/fit_answerability.py [--suites seed,multihop,realtimeqa] [--out FILE]

Runs every tuning case through ``rag.answer`` with nothing refused, reads the signals from
each answer's trace, fits a logistic regression (scikit-learn; standardised signals, balanced
classes), and picks the operating point on the same tuning cases: the threshold with the
most correct decisions (answer an answerable case, refuse an unanswerable one) weighted
equally per class. Writes ``rag/answering/answerability.json`` with the weights, the
threshold and the tuning curve. The test parts are never read here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

from rag.answering.answerability import MODEL_FILE, SIGNALS
from rag.config import Settings
from rag.evaluate import run_suite

HERE = Path(__file__).resolve().parent
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


def fit(rows: list[dict[str, float]], labels: list[int]) -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r.get(s, 0.0) for s in SIGNALS] for r in rows], dtype=float)
    y = np.array(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    model.fit((x - mean) / scale, y)
    prob = model.predict_proba((x - mean) / scale)[:, 1]
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
        "weights": dict(zip(SIGNALS, (float(w) for w in model.coef_[0]), strict=True)),
        "bias": float(model.intercept_[0]),
        "mean": dict(zip(SIGNALS, mean.tolist(), strict=True)),
        "scale": dict(zip(SIGNALS, scale.tolist(), strict=True)),
        "threshold": best["threshold"],
        "tuning_curve": curve,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", default="seed,multihop,realtimeqa")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args()
    names = [n.strip() for n in args.suites.split(",") if n.strip()]
    rows, labels, origin = collect(names)
    fitted = fit(rows, labels)
    fitted["fitted_on"] = {
        "date": dt.date.today().isoformat(),
        "split": "tune",
        "cases": {n: origin.count(n) for n in names},
        "answerable": int(sum(labels)),
        "unanswerable": int(len(labels) - sum(labels)),
    }
    args.out.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: fitted[k] for k in ("weights", "threshold", "fitted_on")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
