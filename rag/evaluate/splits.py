"""Tuning and test parts of a suite, made once with a fixed seed and recorded in the repo.

The answerer's constants are fitted on the ``tune`` part only; numbers are reported on the
``test`` part, which nothing was fitted on. A split file is JSON::

    {"seed": 20261201, "test_share": 0.5, "stratified_by": "first tag",
     "tune": ["id", ...], "test": ["id", ...]}
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .suite import Case, SuiteError

SEED = 20261201
TEST_SHARE = 0.5


def make_split(
    cases: Sequence[Case], seed: int = SEED, test_share: float = TEST_SHARE
) -> dict[str, object]:
    """Assign every case to ``tune`` or ``test``, stratified by its first tag (its kind)."""
    strata: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        strata[case.tags[0] if case.tags else ""].append(case.id)
    rng = random.Random(seed)
    tune: list[str] = []
    test: list[str] = []
    for name in sorted(strata):
        ids = sorted(strata[name])
        rng.shuffle(ids)
        cut = round(len(ids) * test_share)
        test.extend(ids[:cut])
        tune.extend(ids[cut:])
    return {
        "seed": seed,
        "test_share": test_share,
        "stratified_by": "first tag",
        "tune": sorted(tune),
        "test": sorted(test),
    }


def read_split(path: Path, ids: Sequence[str]) -> dict[str, list[str]]:
    """The recorded parts; every case of the suite must be in exactly one of them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        parts = {"tune": list(data["tune"]), "test": list(data["test"])}
    except FileNotFoundError:
        raise SuiteError(
            f"no split file at {path}: make it once with evals/make_splits.py"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SuiteError(f"{path}: not a split file ({exc})") from None
    both = set(parts["tune"]) & set(parts["test"])
    if both:
        raise SuiteError(f"{path}: case {sorted(both)[0]!r} is in both parts")
    listed = set(parts["tune"]) | set(parts["test"])
    unlisted = [i for i in ids if i not in listed]
    if unlisted:
        raise SuiteError(
            f"{path}: case {unlisted[0]!r} (and {len(unlisted) - 1} more) is in neither part; "
            f"add new cases to the test part by hand, never move cases between parts"
        )
    return parts
