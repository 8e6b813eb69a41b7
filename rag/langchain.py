"""A LangChain retriever over rag's hybrid retrieval."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .config import Settings
from .types import Passage


def passage_document(passage: Passage) -> Document:
    meta = passage.to_dict()
    text = meta.pop("text")
    return Document(page_content=text, metadata=meta, id=passage.chunk_id or None)


class NewsRetriever(BaseRetriever):
    """``rag.retrieve`` as a LangChain retriever; metadata carries title, source, offsets."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int | None = None
    filters: dict[str, Any] | None = None
    settings: Settings | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        from .pipeline import get_pipeline

        pipeline = get_pipeline(self.settings)
        passages = pipeline.retriever.retrieve(query, self.k or pipeline.settings.k, self.filters)
        return [passage_document(p) for p in passages]
