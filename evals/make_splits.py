"""Make the tuning/test split of each suite once (fixed seed) and record it in evals/splits/.

    python evals/make_splits.py            # writes only the splits that do not exist yet

An existing split is never rewritten: the test part must stay unseen by tuning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rag.evaluate.splits import make_split
from rag.evaluate.suite import load_suite

HERE = Path(__file__).resolve().parent
SUITES = ["seed.yaml", "multihop.yaml", "realtimeqa.yaml"]


def main() -> int:
    for name in SUITES:
        suite = load_suite(HERE / name)
        if suite.split is None:
            print(f"{name}: no 'split:' field, skipped")
            continue
        if suite.split.exists():
            print(f"{name}: {suite.split.relative_to(HERE)} exists, kept")
            continue
        suite.split.parent.mkdir(parents=True, exist_ok=True)
        split = make_split(suite.cases)
        suite.split.write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
        print(f"{name}: tune {len(split['tune'])}, test {len(split['test'])} -> {suite.split}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
