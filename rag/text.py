"""Text rules shared by every stage: markers, words and stopwords, headings, names, filler.

One definition each, so the answerers, the follow-up logic, the evals and the UI agree on
what a marker, a name or a content word is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import Passage

# ------------------------------------------------------------------------------- markers
# An answer cites with "[1]"; generated text may group them ("[2, 3]", "[2; 3]").
# MARKER_TEXT is the one spelling of a marker; the patterns below (and the LLM answerer's)
# are built from it.
MARKER_TEXT = r"\[\d{1,3}\]"
MARKER = re.compile(r"\[(\d{1,3})\]")
MARKER_GROUP = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_MARKER_WITH_SPACE = re.compile(r"\s*" + MARKER_TEXT)
# What closes a sentence after its last word: the marker goes before these.
CLOSERS = ".!?\"'”’)"
# A line ending in one of these introduces what follows ("Key points:"): no heading.
INTRODUCERS = ":;"
_STOPS = ".!?…"


def strip_markers(text: str) -> str:
    """The text without its [n] markers (and the space before each)."""
    return " ".join(_MARKER_WITH_SPACE.sub("", text).split())


def with_marker(sentence: str, n: int | Sequence[int]) -> str:
    """Put the marker(s) before the final stop, outside quotes and brackets: 'It flew 1,100 km
    [1].', 'It fired (5) [1].', 'He said “we go.” [1]' (never 'fired (5 [1])')."""
    marks = "".join(f"[{i}]" for i in ([n] if isinstance(n, int) else n))
    end = len(sentence)
    while end and sentence[end - 1] in _STOPS:
        end -= 1
    if end == 0:
        return f"{sentence} {marks}"
    return f"{sentence[:end]} {marks}{sentence[end:]}"


# --------------------------------------------------------------------------------- words
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


@functools.lru_cache(maxsize=1)
def _tools() -> tuple[Any, frozenset[str]]:
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    # The reporting verbs and pronouns of questions carry no topic either.
    extra = {"said", "say", "says", "tell", "told", "me", "you", "your", "i", "we", "our", "us"}
    extra |= {"can", "could", "would", "should", "may", "might", "has", "have", "had", "did"}
    extra |= {"does", "do", "whom", "whose", "which", "what", "who", "why", "how", "when"}
    extra |= {"where", "here", "its", "his", "her", "him", "she", "he", "them", "about"}
    return Stemmer.Stemmer("english"), frozenset(STOPWORDS_EN) | frozenset(extra)


def words(text: str) -> list[str]:
    """Lower-cased words ("it’s" stays one word)."""
    return _WORD.findall(text.lower())


def stopwords() -> frozenset[str]:
    """English function words (BM25's list plus question and reporting words)."""
    return _tools()[1]


def stem(word: str) -> str:
    return str(_tools()[0].stemWord(word))


def content_words(text: str) -> list[str]:
    """Words that carry meaning, in order, unstemmed (no stopwords, no single letters)."""
    stop = stopwords()
    return [w for w in words(text) if w not in stop and len(w) > 1]


def content_terms(text: str) -> set[str]:
    """Stemmed words that carry meaning (no stopwords), for overlap scores."""
    return {stem(w) for w in content_words(text)}


# ------------------------------------------------------------------------------ headings
def looks_like_heading(sentence: str) -> bool:
    """A subheading line ("Growing North Korea-Russia Ties") is not an answer."""
    return len(sentence) <= 100 and sentence.rstrip()[-1:] not in CLOSERS


def heading_line(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is a whole line that reads as a heading, for the chunker, which
    keeps a heading with the text after it. Stricter than :func:`looks_like_heading`: a line
    that introduces what follows (ends in ":" or ";") is kept with it anyway."""
    whole_line = (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")
    return whole_line and end - start <= 100 and text[end - 1] not in CLOSERS + INTRODUCERS


# --------------------------------------------------------------------------------- names
# Pronouns that stand for a person or thing named earlier ("this article" names its topic).
PRONOUNS = frozenset(
    ["he", "him", "his", "she", "her", "hers", "they", "them", "their", "it", "its"]
)
# The ones that stand for a person, replaced by the name when judging a follow-up.
PERSONAL_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers)\b", re.IGNORECASE)
# Words that point back to something said before.
ANAPHORA = frozenset(
    [
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "they",
        "them",
        "their",
        "theirs",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "then",
        "such",
        "same",
        "former",
        "latter",
        "he's",
        "she's",
        "they're",
        "it's",
    ]
)
# Capitalised words that start sentences rather than name things.
_NOT_NAMES = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "As",
        "After",
        "Before",
        "During",
        "While",
        "When",
        "What",
        "Who",
        "Why",
        "How",
        "Which",
        "Where",
        "It",
        "He",
        "She",
        "They",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "Here",
        "And",
        "But",
        "Or",
        "If",
        "So",
        "According",
        "Additionally",
        "However",
        "Meanwhile",
        "Did",
        "Does",
        "Do",
        "Is",
        "Are",
        "Was",
        "Were",
        "Has",
        "Have",
        "Had",
        "Can",
        "Could",
        "Will",
        "Would",
        "Should",
        "Between",
        "Considering",
        "Summarize",
        "Summarise",
        "Tell",
        "Give",
        "List",
        "Describe",
        "Explain",
        "Name",
        "Whose",
        "Whom",
    ]
)
# "short-range", "first-quarter": a word qualified by the word before its hyphen.
_COMPOUND = re.compile(r"\b([a-z]+)-([a-z]+)\b")


def conflicting_compound(question: str, sentence: str) -> str:
    """The compound of ``sentence`` that qualifies something the question qualifies another
    way ("intermediate-range" where it asks about "short-range", "first-quarter" for
    "second-quarter"), "" for none. A sentence naming the question's own compound too has
    no conflict."""
    asked = set(_COMPOUND.findall(question.lower()))
    if not asked:
        return ""
    said = set(_COMPOUND.findall(sentence.lower()))
    for mod, head in said:
        others = {m for m, h in asked if h == head}
        if others and mod not in others and not any((m, head) in said for m in others):
            return f"{mod}-{head}"
    return ""


# Titles that come before a person's name ("Councillor Chidi Okonjo", "Secretary Blinken"):
# not part of the name a who answer gives.
TITLES = frozenset(
    [
        *("mr", "mrs", "ms", "dr", "sir", "dame", "lord", "lady", "rev", "prof", "professor"),
        *("president", "vice", "prime", "minister", "secretary", "senator", "sen", "rep"),
        *("representative", "congressman", "congresswoman", "governor", "gov", "mayor"),
        *("councillor", "councilor", "councilman", "councilwoman", "judge", "justice"),
        *("chairman", "chairwoman", "chancellor", "ambassador", "commissioner", "sheriff"),
        *("general", "gen", "colonel", "col", "captain", "capt", "lieutenant", "sergeant"),
        *("officer", "detective", "coach", "king", "queen", "prince", "princess", "pope"),
    ]
)

# Acronyms and words that name no particular thing, so their absence proves nothing.
GENERIC = frozenset(
    [
        "us",
        "usa",
        "uk",
        "eu",
        "un",
        "i",
        "ai",
        "ceo",
        "what",
        "who",
        "why",
        "how",
        "when",
        "where",
        "which",
        "whose",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
        "the",
        "a",
        "an",
        "according",
        "article",
        "articles",
        "report",
        "reported",
        "news",
        "story",
        "stories",
    ]
)
_NAME = re.compile(
    r"\b(?:[A-Z][\w’'&.-]*|[A-Z]{2,})(?:\s+(?:of\s+|the\s+|de\s+)?(?:[A-Z][\w’'&.-]*|[A-Z]{2,}))*"
)


def names(text: str, question: bool = False) -> list[str]:
    """Capitalised names in order of first appearance ("Antony Blinken", "Seoul"), once each.

    In a ``question`` a capitalised first word is taken for a name only as part of a longer
    one: "Whats going on ..." names nothing, "Kim Jong Un said ..." names Kim Jong Un.
    """
    found: list[str] = []
    text = strip_markers(text)
    for match in _NAME.finditer(text):
        parts = match.group().split()
        if question and match.start() == len(text) - len(text.lstrip()) and len(parts) == 1:
            continue
        while parts and parts[0] in _NOT_NAMES:
            parts = parts[1:]
        while parts and parts[-1].lower() in ("of", "the", "de"):
            parts = parts[:-1]
        name = re.sub(r"(['’]s|[.’'])$", "", " ".join(parts))
        if len(name) > 1 and name not in found and name.lower() not in GENERIC:
            found.append(name)
    return found


# ------------------------------------------------------------------------- answer types
# What a who/when/how-many question asks for, as it appears in a sentence that answers it.
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUM = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
_NUM += r"hundreds?|thousands?|millions?|billions?|several|a few)"
_DATE_WORDS = (
    r"\b(?:(?:19|20)\d\d|" + "|".join(MONTHS) + r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
    r"|" + "|".join(WEEKDAYS) + r"|yesterday|today|tomorrow"
    r"|tonight|noon|midnight|(?:last|next|this|that|early|late)\s+(?:week|month|year|morning|"
    r"night|evening|afternoon|spring|summer|fall|autumn|winter)|\d{1,2}:\d\d"
    r"|\d{1,2}\s*(?:a\.m\.|p\.m\.|am|pm)|gmt|utc)\b"
)
ANSWER_TYPES: dict[str, re.Pattern[str]] = {
    "date": re.compile(_DATE_WORDS, re.IGNORECASE),
    "age": re.compile(
        r"\b\d{1,3}[- ](?:years?|yrs?)[- ]old\b|\baged?\s+\d{1,3}\b|\bage of \d{1,3}\b"
        r"|,\s*\d{1,3},|\b(?:teen|twenties|thirties|forties|fifties|sixties|seventies|eighties)",
        re.IGNORECASE,
    ),
    "distance": re.compile(
        rf"\b{_NUM}\s*(?:-\s*)?(?:km|kilomet\w*|miles?|met(?:er|re)s?|feet|foot|yards?|"
        r"nautical)\b",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        rf"\b{_NUM}\s*(?:-\s*)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|"
        r"decades?)\b|\buntil\b|\bsince\b",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        rf"[$€£¥]\s*\d|\b{_NUM}\s*(?:dollars?|euros?|pounds?|yen|percent|per cent|%|"
        r"million|billion|trillion|tons?|tonnes?|kg|kilograms?)\b",
        re.IGNORECASE,
    ),
    "count": re.compile(rf"\b{_NUM}\b", re.IGNORECASE),
    # A day of the calendar, not a time of day: "on what date" is not answered by "at noon".
    "day": re.compile(
        r"\b(?:(?:19|20)\d\d|"
        + "|".join(MONTHS)
        + r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
        r"|" + "|".join(WEEKDAYS) + r"|yesterday|today|tomorrow"
        r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?|\d{4}-\d\d-\d\d)\b",
        re.IGNORECASE,
    ),
    "frequency": re.compile(
        r"\b(?:times|every|daily|weekly|monthly|annually|yearly|once|twice|always|never|often)\b",
        re.IGNORECASE,
    ),
}
# The wh-phrase of a question -> the answer type it wants (names otherwise).
ASKED_TYPE = {
    "when": "date",
    "what time": "date",
    "what day": "day",
    "what date": "day",
    "what year": "date",
    "what month": "date",
    "how old": "age",
    "how far": "distance",
    "how long": "duration",
    "how much": "amount",
    "how many": "count",
    "how big": "amount",
    "how tall": "distance",
    "how often": "frequency",
}


# ---------------------------------------------------------------------------------- filler
# Phrases that point at the collection rather than ask anything: "in the article",
# "according to the news", "here". They change nothing about what is asked.
_FILLER = re.compile(
    r"\s*\b(?:(?:according to|in|from|based on|as (?:reported|described|mentioned) in)\s+"
    r"(?:the|these|this|those|your)\s+(?:news\s+)?(?:articles?|news|stories|story|reports?|"
    r"texts?|passages?|documents?|sources?|coverage)"
    r"|as (?:reported|mentioned|described)"
    r"|(?<=\w)(?<!\bis)(?<!\bare)(?<!\bwas)(?<!\bwere)(?<!\bto)(?<!\bfrom)(?<!\bget)(?<!\bcome)"
    r"\s+here(?=\s*[?.!]*$))\b,?",
    re.IGNORECASE,
)


def strip_filler(question: str) -> str:
    """The question without phrases that only point at the articles ("in the article")."""
    out = _FILLER.sub("", question)
    out = re.sub(r"^\s*,\s*", "", out)
    out = re.sub(r"\s+([?.!,])", r"\1", out)
    out = " ".join(out.split())
    return out[:1].upper() + out[1:] if out else question


# -------------------------------------------------------------------------------- refusals
# Every refusal starts with one of these, so a follow-up can tell a refusal from an answer
# even when the history holds only its text.
NO_ANSWER = "The articles don't cover this, so I can't answer it from them."
NO_MATCH = "No articles match these filters, so there is nothing to answer from."
_REFUSAL = re.compile(
    r"^\s*(?:The articles don't (?:cover|mention)|No articles match|It isn't clear what)\b"
)


def unclear_reference(word: str) -> str:
    """The refusal for a question that leans on a word ("it", "he") nothing has named."""
    return (
        f"It isn't clear what “{word}” refers to: nothing was asked before this. "
        "Ask again, naming who or what you mean."
    )


def is_refusal(text: str) -> bool:
    """The text is one of our refusals (not an answer to take names or topics from)."""
    return bool(_REFUSAL.match(text))


def refusal_text(passages: Sequence[Passage], missing: Sequence[str] = ()) -> str:
    """Say plainly that the articles don't hold the answer, and what they do cover nearby."""
    titles: list[str] = []
    for p in passages:
        label = p.title or p.text[:60]
        if label not in titles:
            titles.append(label)
    text = NO_ANSWER
    if missing:
        named = ", ".join(f"“{m}”" for m in missing)
        text = f"The articles don't mention {named}, so I can't answer this from them."
    if titles:
        listing = "; ".join(f"“{t}”" for t in titles[:3])
        text += f" The closest topics they do cover: {listing}."
    return text


# Nouns of a "which ..." question that asks for a person ("Which individual ...?").
PERSON_NOUNS = frozenset(
    [
        *("individual", "person", "man", "woman", "artist", "singer", "player", "athlete"),
        *("executive", "founder", "leader", "politician", "official", "actor", "actress"),
        *("author", "writer", "journalist", "entrepreneur", "billionaire"),
    ]
)


# The two answers of an either-or question ("consistent or inconsistent?"): the first is
# what a yes says, the second what a no says.
CHOICES = (
    ("consistent", "inconsistent"),
    ("similar", "different"),
    ("same", "different"),
    ("agree", "disagree"),
)

# Sentences of the answerer's own (not quotes): a part the articles do not cover, a note that the
# evidence is older than the question's dates, and the
# "Yes." or "No." that opens the answer to a yes/no question ("Consistent." to an either-or
# one, "The one from Polygon." to a choice between outlets).
AGE_NOTE = "Note: the newest article this answer rests on is from"
# The answer to "which of the two articles ...?": "The one from Polygon." (its quote follows).
SOURCE_CHOICE = "The one from {outlet}."
NOTE = re.compile(
    r"^\s*(?:The articles (?:from .+? )?don't (?:clearly )?cover\b|" + re.escape(AGE_NOTE) + ")"
)
_VERDICTS = sorted({w.capitalize() for pair in CHOICES for w in pair} | {"Yes", "No"})
OPENER = re.compile(rf"^\s*(?:{'|'.join(_VERDICTS)}|The one from [^\[\]]+?)\.(?:\s+|$)")
