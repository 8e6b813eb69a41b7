"""The naive LangChain pipeline that every report compares against.

Fixed-size character chunks (RecursiveCharacterTextSplitter, 1000/200) of the same articles,
the same embedder, an in-memory vector store, top-k similarity search. It has no answerer:
its "answer" is the first sentences of the top chunk, and it never refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ..types import Article, Passage

if TYPE_CHECKING:
    from ..models import Embedder

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
ANSWER_SENTENCES = 2


class EmbedderEmbeddings(Embeddings):
    """rag's embedder as a LangChain ``Embeddings``, so both pipelines use the same vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.embedder.encode(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.encode([text])[0]]


def load_articles(paths: Sequence[Path]) -> list[Article]:
    """The articles under ``paths``, read by rag's own loaders so ids and metadata agree."""
    from ..index import expand_paths
    from ..loaders import load_file

    files, _ = expand_paths(paths)
    seen: dict[str, Article] = {}
    for f in files:
        for _, article in load_file(f).articles:
            seen.setdefault(article.doc_id, article)
    return list(seen.values())


class NaivePipeline:
    """Chunk, embed, similarity search: the baseline from the LangChain tutorials."""

    def __init__(self, articles: Sequence[Article], embedder: Embedder) -> None:
        from langchain_core.vectorstores import InMemoryVectorStore
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
        )
        docs = [
            Document(
                page_content=a.text,
                metadata={
                    "doc_id": a.doc_id,
                    "title": a.title,
                    "source": a.source,
                    "url": a.url,
                    "published": a.published.isoformat() if a.published else "",
                },
            )
            for a in articles
        ]
        self.chunks = splitter.split_documents(docs)
        self.store = InMemoryVectorStore(embedding=EmbedderEmbeddings(embedder))
        if self.chunks:
            self.store.add_documents(self.chunks)

    def retrieve(self, query: str, k: int) -> list[Passage]:
        """Top ``k`` chunks by cosine similarity, as rag passages."""
        hits = self.store.similarity_search_with_score(query, k=k)
        return [_passage(doc, float(score)) for doc, score in hits]

    @staticmethod
    def answer(passages: Sequence[Passage]) -> str:
        """The top chunk's first sentences."""
        from ..chunking import sentence_spans

        if not passages:
            return ""
        text = passages[0].text
        spans = sentence_spans(text)[:ANSWER_SENTENCES]
        return " ".join(text[s:e] for s, e in spans)


def _passage(doc: Document, score: float) -> Passage:
    import datetime as dt

    meta: dict[str, Any] = doc.metadata
    start = int(meta.get("start_index", 0))
    published = meta.get("published") or ""
    return Passage(
        text=doc.page_content,
        score=score,
        doc_id=str(meta.get("doc_id", "")),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published=dt.date.fromisoformat(published) if published else None,
        url=str(meta.get("url", "")),
        start=start,
        end=start + len(doc.page_content),
        chunk_id=str(doc.id or ""),
    )
