"""Evaluation suites: YAML or JSONL files of cases, validated with errors that name case and field.

A YAML suite is a mapping with ``cases:`` (and optionally ``name``, ``corpus``, ``k``,
``compare``, ``modes``), or a bare list of cases; a JSONL suite holds one case per line.
A suite with ``benchmark: multihop-rag`` (or ``realtimeqa``) instead builds its cases from
that benchmark's files, and ``split: FILE`` names the recorded tuning/test split of its cases
(see ``evals/README.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

Alternatives = tuple[str, ...]  # any one of these satisfies the requirement

CASE_FIELDS = frozenset(
    [
        "id",
        "question",
        "history",
        "reference",
        "must_contain",
        "sources",
        "facts",
        "answerable",
        "tags",
        "yes_no",
        "partial",
        "wrong",
        "as_of",
    ]
)
SUITE_FIELDS = frozenset(
    [
        "name",
        "corpus",
        "k",
        "compare",
        "modes",
        "cases",
        "benchmark",
        "data",
        "articles",
        "queries",
        "split",
    ]
)
KNOWN_MODES = ("dense", "lexical", "hybrid", "rerank")
KNOWN_COMPARE = ("naive",)
# Gold answers that an extractive system cannot produce: scored on retrieval only.
YES_NO = frozenset(["yes", "no"])


class SuiteError(ConfigError):
    """A suite file is missing, unreadable, or has a case with a bad field."""


@dataclass(frozen=True)
class Case:
    """One question with what a good answer must hold."""

    id: str
    question: str
    history: tuple[tuple[str, str], ...] = ()
    reference: str = ""
    must_contain: tuple[Alternatives, ...] = ()
    sources: tuple[Alternatives, ...] = ()
    facts: tuple[str, ...] = ()
    answerable: bool = True
    tags: tuple[str, ...] = ()
    yes_no: str = ""  # "yes" or "no" when the answer must say which
    partial: bool = False  # one part is answerable, the answer must say which part is not
    wrong: tuple[str, ...] = ()  # wrong choices of a quiz question: the strict score
    as_of: str = ""  # the date the question was asked (YYYY-MM-DD)


@dataclass(frozen=True)
class Suite:
    """Cases plus the articles they are about."""

    name: str
    path: Path
    cases: tuple[Case, ...]
    corpus: tuple[Path, ...] = ()  # empty: the settings' corpus folder
    k: int | None = None
    compare: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    split: Path | None = None  # the recorded tuning/test split of the cases

    def part(self, name: str | None) -> tuple[Case, ...]:
        """The cases of one part of the recorded split (``tune`` or ``test``); all for None."""
        if not name or name == "all":
            return self.cases
        from .splits import read_split

        if self.split is None:
            raise SuiteError(
                f"{self.path}: --split {name} needs a recorded split: add 'split: FILE' "
                f"(made once by evals/make_splits.py)"
            )
        ids = read_split(self.split, [c.id for c in self.cases])
        if name not in ids:
            raise SuiteError(f"--split {name!r}: use tune, test or all")
        wanted = set(ids[name])
        return tuple(c for c in self.cases if c.id in wanted)


def _where(path: Path, index: int, case_id: str | None) -> str:
    label = f"case {index}" + (f" (id {case_id!r})" if case_id else "")
    return f"{path}: {label}"


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SuiteError(f"{where}: field {name!r} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _groups(value: Any, where: str, name: str, split_bars: bool) -> tuple[Alternatives, ...]:
    """Requirements, each a string ("a|b" allowed when ``split_bars``) or a list of alternatives."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SuiteError(
            f"{where}: field {name!r} must be a list of strings or of lists of alternatives"
        )
    out: list[Alternatives] = []
    for item in value:
        if isinstance(item, str):
            alts = item.split("|") if split_bars else [item]
        elif isinstance(item, list) and item and all(isinstance(a, str) for a in item):
            alts = list(item)
        else:
            raise SuiteError(
                f"{where}: field {name!r} has {item!r}; use a string or a list of strings"
            )
        cleaned = tuple(a.strip() for a in alts if a.strip())
        if not cleaned:
            raise SuiteError(f"{where}: field {name!r} has an empty entry")
        out.append(cleaned)
    return tuple(out)


def _history(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise SuiteError(f"{where}: field 'history' must be a list of [question, answer] pairs")
    turns = []
    for n, turn in enumerate(value, 1):
        if not (
            isinstance(turn, (list, tuple))
            and len(turn) == 2
            and all(isinstance(t, str) for t in turn)
        ):
            raise SuiteError(
                f"{where}: field 'history' turn {n} must be a [question, answer] pair of strings"
            )
        turns.append((turn[0], turn[1]))
    return tuple(turns)


def parse_case(raw: Any, index: int, path: Path) -> Case:
    """One case from its mapping; ``index`` is 1-based and appears in error messages."""
    if not isinstance(raw, Mapping):
        raise SuiteError(f"{_where(path, index, None)}: must be a mapping with a 'question'")
    case_id = str(raw["id"]) if raw.get("id") is not None else None
    where = _where(path, index, case_id)
    unknown = sorted(set(raw) - CASE_FIELDS)
    if unknown:
        raise SuiteError(
            f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(CASE_FIELDS))}"
        )
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SuiteError(f"{where}: field 'question' is missing or empty")
    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        raise SuiteError(f"{where}: field 'answerable' must be true or false")
    partial = raw.get("partial", False)
    if not isinstance(partial, bool):
        raise SuiteError(f"{where}: field 'partial' must be true or false")
    yes_no = str(raw.get("yes_no", "") or "").strip().lower()
    if yes_no and yes_no not in YES_NO:
        raise SuiteError(f'{where}: field \'yes_no\' must be "yes" or "no"')
    as_of = raw.get("as_of", "")
    if as_of and _parse_day(as_of) is None:
        raise SuiteError(f"{where}: field 'as_of' must be a date (YYYY-MM-DD)")
    reference = raw.get("reference", "")
    if not isinstance(reference, str):
        raise SuiteError(f"{where}: field 'reference' must be a string")
    must = _groups(raw.get("must_contain", []), where, "must_contain", split_bars=True)
    sources = _groups(raw.get("sources", []), where, "sources", split_bars=True)
    if not answerable and (must or sources):
        field_name = "must_contain" if must else "sources"
        raise SuiteError(
            f"{where}: field {field_name!r} makes no sense with answerable: false "
            f"(the expected behaviour is a refusal)"
        )
    if answerable and not (must or sources or reference.strip() or yes_no):
        raise SuiteError(
            f"{where}: field 'must_contain' is missing: an answerable case needs "
            f"must_contain, sources or reference to be scored"
        )
    return Case(
        id=case_id or f"case-{index}",
        question=question.strip(),
        history=_history(raw.get("history", []), where),
        reference=reference.strip(),
        must_contain=must,
        sources=sources,
        facts=_strings(raw.get("facts", []), where, "facts"),
        answerable=answerable,
        tags=_strings(raw.get("tags", []), where, "tags"),
        yes_no=yes_no,
        partial=partial,
        wrong=_strings(raw.get("wrong", []), where, "wrong"),
        as_of=str(as_of or ""),
    )


def _parse_day(value: Any) -> Any:
    from ..dates import parse_date

    return parse_date(value)


def _choices(value: Any, known: Sequence[str], path: Path, name: str) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or any(i not in known for i in items):
        raise SuiteError(f"{path}: field {name!r} must list some of {', '.join(known)}")
    return tuple(items)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file (``.yaml``, ``.yml`` or ``.jsonl``)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SuiteError(f"no suite file at {path}: pass a .yaml or .jsonl file (see evals/)")
    text = path.read_text(encoding="utf-8")
    header: dict[str, Any] = {}
    raw_cases: Any
    if path.suffix.lower() == ".jsonl":
        raw_cases = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raw_cases.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SuiteError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SuiteError(f"{path}: not valid YAML ({exc})") from None
        if isinstance(data, list):
            raw_cases = data
        elif isinstance(data, Mapping):
            header = dict(data)
            raw_cases = header.pop("cases", None)
        else:
            raise SuiteError(f"{path}: a suite is a mapping with 'cases:' or a list of cases")
    else:
        raise SuiteError(f"{path}: unsupported suite type {path.suffix!r}; use .yaml or .jsonl")

    unknown = sorted(set(header) - SUITE_FIELDS)
    if unknown:
        raise SuiteError(
            f"{path}: unknown suite field {unknown[0]!r}; known: {', '.join(sorted(SUITE_FIELDS))}"
        )
    name = str(header.get("name") or path.stem)
    k = header.get("k")
    if k is not None and (not isinstance(k, int) or k < 1):
        raise SuiteError(f"{path}: field 'k' must be a positive integer")
    compare = _choices(header.get("compare", []), KNOWN_COMPARE, path, "compare")
    modes = _choices(header.get("modes", []), KNOWN_MODES, path, "modes")

    split = (path.parent / str(header["split"])).resolve() if header.get("split") else None
    if header.get("benchmark") is not None:
        from .benchmarks import BENCHMARKS

        build = BENCHMARKS.get(str(header["benchmark"]))
        if build is None:
            raise SuiteError(
                f"{path}: unknown benchmark {header['benchmark']!r}; "
                f"known: {', '.join(sorted(BENCHMARKS))}"
            )
        data_dir = (path.parent / str(header.get("data", "."))).resolve()
        articles, cases = build(
            data_dir,
            str(header.get("articles", "articles.jsonl")),
            str(header.get("queries", "queries-dev.jsonl")),
        )
        return Suite(name, path, cases, (articles,), k, compare, modes, split=split)

    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(f"{path}: the suite has no cases (put them under 'cases:')")
    cases = tuple(parse_case(raw, i, path) for i, raw in enumerate(raw_cases, 1))
    seen: dict[str, int] = {}
    for i, case in enumerate(cases, 1):
        if case.id in seen:
            raise SuiteError(
                f"{_where(path, i, case.id)}: field 'id' repeats case {seen[case.id]}; "
                f"ids must be unique"
            )
        seen[case.id] = i
    corpus: tuple[Path, ...] = ()
    if header.get("corpus"):
        entries = header["corpus"] if isinstance(header["corpus"], list) else [header["corpus"]]
        corpus = tuple((path.parent / str(c)).resolve() for c in entries)
        for c in corpus:
            if not c.exists():
                raise SuiteError(f"{path}: field 'corpus' names {c}, which does not exist")
    return Suite(name, path, cases, corpus, k, compare, modes, split=split)
