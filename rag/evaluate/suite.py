"""Evaluation suites: YAML or JSONL files of cases, validated (a pydantic schema per case)
with errors that name case and field.

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

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

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


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"field {name!r} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _groups(value: Any, name: str, split_bars: bool) -> tuple[Alternatives, ...]:
    """Requirements, each a string ("a|b" allowed when ``split_bars``) or a list of alternatives."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"field {name!r} must be a list of strings or of lists of alternatives")
    out: list[Alternatives] = []
    for item in value:
        if isinstance(item, str):
            alts = item.split("|") if split_bars else [item]
        elif isinstance(item, list) and item and all(isinstance(a, str) for a in item):
            alts = list(item)
        else:
            raise ValueError(f"field {name!r} has {item!r}; use a string or a list of strings")
        cleaned = tuple(a.strip() for a in alts if a.strip())
        if not cleaned:
            raise ValueError(f"field {name!r} has an empty entry")
        out.append(cleaned)
    return tuple(out)


def _history(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError("field 'history' must be a list of [question, answer] pairs")
    turns = []
    for n, turn in enumerate(value, 1):
        if not (
            isinstance(turn, (list, tuple))
            and len(turn) == 2
            and all(isinstance(t, str) for t in turn)
        ):
            raise ValueError(
                f"field 'history' turn {n} must be a [question, answer] pair of strings"
            )
        turns.append((turn[0], turn[1]))
    return tuple(turns)


class CaseSchema(BaseModel):
    """The schema of one case as written in a suite file; :meth:`case` gives the Case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    question: str
    history: tuple[tuple[str, str], ...] = ()
    reference: str = ""
    must_contain: tuple[Alternatives, ...] = ()
    sources: tuple[Alternatives, ...] = ()
    facts: tuple[str, ...] = ()
    answerable: StrictBool = True
    tags: tuple[str, ...] = ()
    yes_no: str = ""
    partial: StrictBool = False
    wrong: tuple[str, ...] = ()
    as_of: str = ""

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str | None:
        return None if value is None else str(value)

    @field_validator("question", mode="before")
    @classmethod
    def _question(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("field 'question' is missing or empty")
        return value.strip()

    @field_validator("history", mode="before")
    @classmethod
    def _turns(cls, value: Any) -> tuple[tuple[str, str], ...]:
        return _history(value)

    @field_validator("reference", mode="before")
    @classmethod
    def _reference(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("field 'reference' must be a string")
        return value.strip()

    @field_validator("must_contain", "sources", mode="before")
    @classmethod
    def _requirements(cls, value: Any, info: ValidationInfo) -> tuple[Alternatives, ...]:
        return _groups(value, str(info.field_name), split_bars=True)

    @field_validator("facts", "tags", "wrong", mode="before")
    @classmethod
    def _string_list(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        return _strings(value, str(info.field_name))

    @field_validator("yes_no", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> str:
        said = str(value or "").strip().lower()
        if said and said not in YES_NO:
            raise ValueError('field \'yes_no\' must be "yes" or "no"')
        return said

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of(cls, value: Any) -> str:
        if value and _parse_day(value) is None:
            raise ValueError("field 'as_of' must be a date (YYYY-MM-DD)")
        return str(value or "")

    @model_validator(mode="after")
    def _scorable(self) -> CaseSchema:
        if not self.answerable and (self.must_contain or self.sources):
            name = "must_contain" if self.must_contain else "sources"
            raise ValueError(
                f"field {name!r} makes no sense with answerable: false "
                f"(the expected behaviour is a refusal)"
            )
        if self.answerable and not (
            self.must_contain or self.sources or self.reference or self.yes_no
        ):
            raise ValueError(
                "field 'must_contain' is missing: an answerable case needs "
                "must_contain, sources or reference to be scored"
            )
        return self

    def case(self, index: int) -> Case:
        fields = self.model_dump(exclude={"id"})
        return Case(id=self.id or f"case-{index}", **fields)


class SuiteSchema(BaseModel):
    """The schema of a suite file's header (everything but its cases)."""

    model_config = ConfigDict(extra="forbid")

    name: Any = None
    corpus: Any = None
    k: StrictInt | None = None
    compare: Any = None
    modes: Any = None
    benchmark: Any = None
    data: Any = None
    articles: Any = None
    queries: Any = None
    split: Any = None

    @field_validator("k")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("field 'k' must be a positive integer")
        return value


# What pydantic's own checks (before ours run) mean, said as the suite's author needs it.
_TYPE_MESSAGES = {
    "answerable": "field 'answerable' must be true or false",
    "partial": "field 'partial' must be true or false",
    "question": "field 'question' is missing or empty",
    "k": "field 'k' must be a positive integer",
}


def _explain(error: ValidationError, known: frozenset[str]) -> str:
    """The first problem of a validation error, naming the field."""
    problems = error.errors()
    unknown = [p for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        return f"unknown field {unknown[0]['loc'][0]!r}; known fields: {', '.join(sorted(known))}"
    first = problems[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "value_error":
        return str(first["ctx"]["error"])
    return _TYPE_MESSAGES.get(name, f"field {name!r}: {first['msg']}")


def parse_case(raw: Any, index: int, path: Path) -> Case:
    """One case from its mapping; ``index`` is 1-based and appears in error messages."""
    if not isinstance(raw, Mapping):
        raise SuiteError(f"{_where(path, index, None)}: must be a mapping with a 'question'")
    case_id = str(raw["id"]) if raw.get("id") is not None else None
    try:
        return CaseSchema.model_validate(dict(raw)).case(index)
    except ValidationError as exc:
        raise SuiteError(f"{_where(path, index, case_id)}: {_explain(exc, CASE_FIELDS)}") from None


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

    try:
        head = SuiteSchema.model_validate(header)
    except ValidationError as exc:
        problem = _explain(exc, SUITE_FIELDS).replace("unknown field", "unknown suite field", 1)
        raise SuiteError(f"{path}: {problem.replace('known fields:', 'known:', 1)}") from None
    name = str(head.name or path.stem)
    k = head.k
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
