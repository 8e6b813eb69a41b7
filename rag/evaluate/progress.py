"""An optional progress bar for suite runs: tqdm, the one progress library (ingest uses it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class progress_bar:
    """A progress bar when asked for, else nothing; used as ``with ... as tick``."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self._bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=f"eval {self.label}", unit="case", leave=False)
        return self._tick

    def _tick(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
