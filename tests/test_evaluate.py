"""Suites, metrics and reports: validation errors, hand-checked metrics, the CLI gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS, REPO

from rag.cli import main
from rag.config import Settings
from rag.evaluate import (
    Report,
    SuiteError,
    apply_baseline,
    apply_thresholds,
    load_suite,
    render_html,
    run_suite,
)
from rag.evaluate import metrics as m
from rag.types import Passage

SCRIPT = "<script>alert(1)</script>"

# Three cases whose right answers are plain in the seed article.
SMALL_SUITE: dict[str, Any] = {
    "name": "small",
    "corpus": str(CORPUS),
    "cases": [
        {
            "id": "distance",
            "question": "How far did the missile fly?",
            "reference": "About 1,100 kilometers.",
            "must_contain": ["1,100 kilometers|680 miles"],
            "sources": ["traveled approximately 1,100 kilometers"],
            "tags": ["launch"],
        },
        {
            "id": "kim",
            "question": f"{SCRIPT} What did Kim Jong Un say about the launch?",
            "answerable": False,
            "tags": ["unanswerable"],
        },
        {
            "id": "followup",
            "history": [["Who was South Korea's president?", "Yoon Suk Yeol."]],
            "question": "When did he declare martial law?",
            "must_contain": ["December 3"],
            "sources": ["martial law on December 3"],
            "tags": ["follow-up"],
        },
    ],
}


def write_suite(tmp: Path, data: Any, name: str = "suite.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def passage(text: str, doc_id: str = "d1", url: str = "", title: str = "") -> Passage:
    return Passage(text, 1.0, doc_id, title, "", None, url, 0, len(text))


# ---------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"question": "Q?", "must_contain": [1]}, "field 'must_contain'"),
        ({"question": ""}, "field 'question'"),
        ({"question": "Q?", "must_contan": ["x"]}, "unknown field 'must_contan'"),
        ({"question": "Q?", "history": [["only one"]], "reference": "r"}, "field 'history'"),
        ({"question": "Q?", "answerable": False, "must_contain": ["x"]}, "field 'must_contain'"),
        ({"question": "Q?", "answerable": "no"}, "field 'answerable'"),
        ({"question": "Q?"}, "field 'must_contain' is missing"),
    ],
)
def test_validation_names_case_and_field(
    tmp_path: Path, case: dict[str, Any], expected: str
) -> None:
    good = {"id": "ok", "question": "Fine?", "reference": "yes"}
    path = write_suite(tmp_path, {"cases": [good, {"id": "bad-one", **case}]})
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert "case 2 (id 'bad-one')" in str(err.value)
    assert expected in str(err.value)


def test_validation_jsonl_and_duplicates(tmp_path: Path) -> None:
    bad = tmp_path / "s.jsonl"
    bad.write_text('{"question": "Q?", "reference": "r"}\n{nope\n', encoding="utf-8")
    with pytest.raises(SuiteError, match="line 2"):
        load_suite(bad)
    dup = write_suite(tmp_path, {"cases": [{"id": "a", "question": "Q?", "reference": "r"}] * 2})
    with pytest.raises(SuiteError, match=r"case 2 \(id 'a'\): field 'id' repeats case 1"):
        load_suite(dup)


def test_repository_suites_load() -> None:
    seed = load_suite(REPO / "evals" / "seed.yaml")
    assert len(seed.cases) >= 30
    assert sum(not c.answerable for c in seed.cases) >= 6
    assert sum(bool(c.history) for c in seed.cases) >= 4
    assert seed.corpus == (CORPUS.resolve(),)
    multihop = REPO / "evals" / "multihop.yaml"
    if (REPO.parent / "shared" / "benchmarks" / "multihop-rag").is_dir():
        cases = load_suite(multihop).cases
        assert len(cases) == 250
        null = [c for c in cases if "null_query" in c.tags]
        assert null and all(not c.answerable for c in null)


# ---------------------------------------------------------------------------- pure metrics
def test_retrieval_recall_and_mrr() -> None:
    ps = [passage("Nothing here."), passage("It flew  1,100\nkilometers east."), passage("x", "d2")]
    located = [(p.text, p) for p in ps]
    sources = (("flew 1,100 kilometers",), ("d2",), ("absent",))
    recall, mrr = m.retrieval(sources, located, 3)
    assert recall == pytest.approx(2 / 3)
    assert mrr == pytest.approx(1 / 2)
    assert m.retrieval(sources, located, 1) == (0.0, 0.0)
    assert m.retrieval((), located, 3) == (None, None)
    assert m.fact_recall(["It flew 1,100 kilometers east."], [p.text for p in ps]) == 1.0


def test_citation_precision_recall_and_key_phrases() -> None:
    good = passage("The missile traveled approximately 1,100 kilometers.")
    off = passage("Seoul bolstered surveillance.")
    sources = (("approximately 1,100 kilometers",), ("ironclad",))
    cited = [(good.text, good), (off.text, off)]
    assert m.citations(sources, cited) == (0.5, 0.5)
    assert m.citations(sources, []) == (None, 0.0)
    groups = (("1,100 km", "1,100 kilometers"), ("Japan",))
    assert m.key_phrases(groups, "It flew 1,100 Kilometers [1].") == 0.5
    assert m.key_phrases(groups, "between Korea and Japan, 1,100 km [1]") == 1.0


def test_answer_sentences_and_faithfulness() -> None:
    text = "It flew 1,100 km [1]. The DPRK [North Korea] gets help [2][3]. Unsupported."
    assert m.answer_sentences(text) == [
        ("It flew 1,100 km.", (1,)),
        ("The DPRK [North Korea] gets help.", (2, 3)),
        ("Unsupported.", ()),
    ]
    quotes = {1: "It flew 1,100 km.", 2: "Other.", 3: "The DPRK [North Korea] gets help."}
    assert m.faithfulness(text, quotes) == pytest.approx(2 / 3)
    assert m.faithfulness("It flew 1,100 km [1].", {1: "Something else."}) == 0.0
    assert m.faithfulness("It flew [1].", {1: "x"}, judge=lambda s, q: True) == 1.0
    # The answerer's own sentences quote nothing and are not judged: a name it opens with
    # (checked against its quote), a note that the evidence is old, an uncovered part.
    quotes = {1: "Union president Dale Ferreira led the strike."}
    assert (
        m.faithfulness(
            "Dale Ferreira [1]. Union president Dale Ferreira led the strike [1].", quotes
        )
        == 1.0
    )
    dated = (
        "It flew 1,100 km [1].\n\nNote: the newest article this answer rests on is from 2021-05-03."
    )
    assert m.faithfulness(dated, {1: "It flew 1,100 km."}) == 1.0


def test_refusals_and_percentiles() -> None:
    scores = m.refusals([True, True, False, False], [True, False, True, False])
    assert scores == {
        "refusal_precision": 0.5,
        "refusal_recall": 0.5,
        "false_refusal_rate": 0.5,
    }
    assert m.refusals([False], [False])["refusal_precision"] is None
    assert m.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert m.percentile([], 95) is None
    assert m.mean([None, 1.0, 0.0]) == 0.5


# ------------------------------------------------------------------- real answers, real index
@pytest.fixture(scope="module")
def small_report(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = write_suite(tmp_path_factory.mktemp("suite"), SMALL_SUITE)
    return run_suite(
        path, settings=seed_settings, index_dir=seed_settings.index_dir, compare=["naive"]
    )


def test_metrics_on_real_answers(small_report: Report) -> None:
    by_id = {c.id: c for c in small_report.cases}
    distance = by_id["distance"]
    assert not distance.refused
    assert distance.metrics["recall"] == 1.0
    assert distance.metrics["answer_correct"] == 1.0
    assert distance.metrics["faithfulness"] == 1.0  # extractive: verbatim quotes
    assert distance.metrics["citation_precision"] is not None
    assert distance.metrics["citation_recall"] == 1.0
    assert 0.3 < (distance.metrics["similarity"] or 0.0) <= 1.0
    assert by_id["kim"].refused and by_id["kim"].passed
    assert by_id["followup"].query != by_id["followup"].question  # history was used
    ours, naive = small_report.aggregates["ours"], small_report.aggregates["naive"]
    assert ours["refusal_recall"] == 1.0 and naive["refusal_recall"] == 0.0
    assert ours["latency_p50"] is not None and ours["latency_p50"] > 0
    assert set(small_report.by_tag["ours"]) == {"launch", "unanswerable", "follow-up"}
    assert by_id["distance"].naive["metrics"]["recall"] is not None
    assert small_report.calibration["distribution"]["unanswerable"]["n"] == 1.0


def test_html_escapes_and_baseline_deltas(small_report: Report) -> None:
    page = render_html(small_report)
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert "<svg" in page
    before = json.loads(json.dumps(small_report.to_dict()))
    before["aggregates"]["ours"]["recall"] = 2.0  # pretend the last run was better
    before["cases"][0]["passed"] = True
    apply_baseline(small_report, before)
    assert small_report.baseline is not None
    assert small_report.baseline["deltas"]["recall"] == pytest.approx(
        float(small_report.aggregates["ours"]["recall"] or 0) - 2.0
    )
    assert "recall" in small_report.baseline["regressions"]
    assert "Δ" in render_html(small_report)
    apply_thresholds(small_report, {"recall": 0.0})
    assert small_report.ok


@pytest.mark.slow
def test_cli_min_fails_and_writes_reports(seed_settings: Settings, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, SMALL_SUITE)
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    argv = ["--index", str(seed_settings.index_dir), "eval", str(suite), "--limit", "2"]
    argv += ["--compare", "", "--json", str(out_json), "--html", str(out_html), "-q"]
    assert main([*argv, "--min", "recall=1.01"]) == 1
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert len(data["cases"]) == 2 and data["thresholds"][0]["passed"] is False
    assert "&lt;script&gt;" in out_html.read_text(encoding="utf-8")
    assert main([*argv, "--min", "recall=0.5", "--baseline", str(out_json)]) == 0
    assert main([*argv, "--min", "recal=0.5"]) == 2  # a typo is an error, not a pass
