"""The default pipeline: index, retriever and answerers built once per settings value."""

from __future__ import annotations

import functools

from .config import Settings
from .index import Index
from .retrieval import Retriever


class Pipeline:
    """Everything one process needs to ingest, retrieve and answer, built lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = Index(settings)
        self.retriever = Retriever(self.index)


@functools.lru_cache(maxsize=4)
def _pipeline_for(settings: Settings) -> Pipeline:
    return Pipeline(settings)


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The pipeline for ``settings`` (default: from the environment), built on first use."""
    return _pipeline_for(settings or Settings.from_env())
