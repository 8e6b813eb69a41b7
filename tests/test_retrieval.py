"""Wire stories from several outlets: stored once per outlet, answered once.

Unit tests of the collapse on small passages, then one end to end: two outlets' copies of one
story ingested into a real Chroma in a temporary folder and asked about.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import rag
from rag.config import Settings
from rag.retrieval import COPY_MIN_TRIGRAMS, collapse_copies

# A wire story as two outlets ran it: their own headline and dateline, a credit line, a
# house-style word or two, one of them without the last paragraph.
STORY = (
    "The Halvorsen Dam on the Ostra river will be taken down over the next three summers, the "
    "regional water authority said on Thursday, ending a decade of disputes over the salmon "
    "runs it blocked. The authority's director, Mette Lindqvist, said the work would cost 41 "
    "million euros and begin in June with the removal of the spillway gates. Anglers and "
    "farmers downstream had argued for years about the dam, which was built in 1962 to power "
    "a paper mill that closed in 2009. Engineers will lower the reservoir by two metres a "
    "month so that the silt behind the wall settles before it reaches the estuary. "
    "Lindqvist said a fish ladder had been considered and rejected because the river's "
    "salmon could not climb the eleven-metre wall even with one. The authority expects the "
    "first salmon to spawn above the old dam site within five years of the work ending."
)
COPY_A = "OSTRA, Norway (Wire) — " + STORY + "\nReporting by Ana Ruiz; editing by Tom Berg."
COPY_B = (
    STORY.replace("said on Thursday", "told reporters on Thursday").rsplit(" The authority", 1)[0]
    + "\nThe Wire contributed to this report."
)
OTHER = (
    "The Ostra valley's farmers want compensation for the water they will lose when the "
    "Halvorsen reservoir is lowered, their association said, adding that irrigation for "
    "about 300 farms depends on it during dry summers. The association's chair said the "
    "removal of the dam was decided without asking the people who live downstream, and that "
    "wells along the river had already dropped by half a metre since the spring."
)


def passage(text: str, doc: str, source: str, n: int = 0, day: int = 1) -> rag.Passage:
    return rag.Passage(
        text=text,
        score=0.5,
        doc_id=doc,
        title=f"{source} headline",
        source=source,
        published=dt.date(2024, 5, day),
        url=f"https://{source.lower()}.example/{doc}",
        start=0,
        end=len(text),
        chunk_id=f"{doc}:{n}",
    )


def test_copies_collapse_into_the_best_ranked_and_list_the_others() -> None:
    a, b = passage(COPY_A, "a", "Herald"), passage(COPY_B, "b", "Courier", day=2)
    other = passage(OTHER, "c", "Gazette")
    kept = collapse_copies([a, other, b], limit=6)
    assert [p.doc_id for p in kept] == ["a", "c"]
    (reprint,) = kept[0].also_in
    assert (reprint.doc_id, reprint.source, reprint.title) == ("b", "Courier", "Courier headline")
    assert reprint.published == dt.date(2024, 5, 2) and reprint.url.endswith("/b")
    assert kept[1].also_in == ()
    # Serialisable with the answer: nested dates become ISO strings.
    assert kept[0].to_dict()["also_in"][0]["published"] == "2024-05-02"
    json.dumps(kept[0].to_dict())


def test_without_copies_nothing_changes() -> None:
    ps = [passage(STORY, "a", "Herald"), passage(OTHER, "c", "Gazette")]
    assert collapse_copies(ps, limit=6) == ps
    assert collapse_copies(ps, limit=1) == ps[:1]


def test_a_copy_ranked_past_the_limit_is_still_listed() -> None:
    a, other = passage(COPY_A, "a", "Herald"), passage(OTHER, "c", "Gazette")
    b = passage(COPY_B, "b", "Courier")
    kept = collapse_copies([a, other, b], limit=2)
    assert [p.doc_id for p in kept] == ["a", "c"]
    assert [r.doc_id for r in kept[0].also_in] == ["b"]


def test_copies_inside_one_article_are_dropped_without_a_listing() -> None:
    kept = collapse_copies([passage(STORY, "a", "Herald", 0), passage(STORY, "a", "Herald", 1)], 6)
    assert len(kept) == 1 and kept[0].also_in == ()


def test_a_heading_is_not_a_copy_of_a_passage_that_contains_it() -> None:
    heading = passage("How to watch", "h", "Herald")
    assert len(heading.text.split()) < COPY_MIN_TRIGRAMS
    long = passage("How to watch the final: " + OTHER, "l", "Gazette")
    kept = collapse_copies([heading, long], 6)
    assert [p.doc_id for p in kept] == ["h", "l"] and kept[0].also_in == ()


def test_two_outlets_copies_are_stored_apart_and_answered_once(settings: Settings) -> None:
    corpus = settings.corpus_dir
    for name, source, day, text in (
        ("herald", "Ostra Herald", "2024-05-02", COPY_A),
        ("courier", "Valley Courier", "2024-05-03", COPY_B),
        ("gazette", "Farm Gazette", "2024-05-04", OTHER),
    ):
        (corpus / f"{name}.md").write_text(
            f"---\ntitle: Halvorsen dam to come down ({source})\nsource: {source}\n"
            f"published: {day}\nurl: https://{name}.example/dam\n---\n{text}\n",
            encoding="utf-8",
        )
    report = rag.ingest(settings=settings)
    assert len(report.added) == 3, report  # stored once per outlet
    answer = rag.answer("How much will removing the Halvorsen Dam cost?", settings=settings)
    assert not answer.refused and "41 million euros" in answer.text, answer.text
    # Each passage of the story is there once, from one outlet or the other, never both.
    outlets = {p.source for p in answer.passages}
    assert len(outlets & {"Ostra Herald", "Valley Courier"}) == 1, outlets
    cited = next(c for c in answer.citations if "41 million" in c.quote)
    other = {"Ostra Herald": "Valley Courier", "Valley Courier": "Ostra Herald"}[cited.source]
    assert [r.source for r in cited.also_in] == [other]
    assert cited.also_in[0].url.startswith("https://") and cited.also_in[0].published
    assert answer.to_dict()["citations"][0]["also_in"]
    # `rag ask` names the other outlet under the quote.
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "HF_HUB_OFFLINE": "1"}
    env["RAG_CORPUS_DIR"] = str(corpus)
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "How much will removing the Halvorsen Dam cost?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert f"also carried by: {other}, " in out, out


def test_ui_card_lists_the_other_outlets_escaped() -> None:
    from rag.ui import render

    b = passage(COPY_B, "b", "<b>Courier</b>")
    a = collapse_copies([passage(COPY_A, "a", "Herald"), b], 6)[0]
    quote = a.text[:60]
    cite = rag.Citation(1, "a", a.title, a.source, a.published, a.url, quote, 0, 60, 0.9, "a:0")
    cite = rag.Citation(**{**cite.__dict__, "also_in": a.also_in})
    html = render.answer_html(rag.Answer(f"{quote} [1]", (cite,), passages=(a,)), 1)
    assert 'class="also-in"' in html and "&lt;b&gt;Courier&lt;/b&gt;" in html
    assert "<b>Courier" not in html
