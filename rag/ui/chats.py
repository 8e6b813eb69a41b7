"""Chats kept in the browser's local storage, so they survive a reload, and the list of them.

The stored value is ``{"current": id, "chats": [{"id", "title", "at", "chat", "turns"}]}``,
most recent first, at most ``SAVED_CHATS`` of them.
"""

from __future__ import annotations

import html
import time
import uuid
from typing import Any

import gradio as gr

SAVED_CHATS = 30

Message = dict[str, str]
Turn = tuple[str, str]


def as_turns(raw: Any) -> list[Turn]:
    """(question, answer) pairs from a State or the browser's storage (lists after JSON)."""
    return [(str(t[0]), str(t[1])) for t in raw or [] if len(t) == 2]


def content_of(message: Message) -> str:
    """A chat message's HTML, whichever shape Gradio hands it back in (a string or parts)."""
    value: Any = message.get("content", "")
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return str(value)


def question_of(message: Message) -> str:
    """The question a user message shows (it is stored as escaped HTML)."""
    return html.unescape(content_of(message).replace("<br>", "\n"))


def _chat_title(chat: list[Message]) -> str:
    first = next((question_of(m) for m in chat if m.get("role") == "user"), "")
    return (first[:60] + "…") if len(first) > 60 else first or "Empty chat"


def save_chat(
    chat: list[Message], turns: list[Turn], saved: dict[str, Any] | None, current: str
) -> tuple[dict[str, Any], Any, str]:
    """Keep this chat in the browser, most recent first, so it survives a reload."""
    saved = dict(saved or {})
    chats = [c for c in saved.get("chats", []) if isinstance(c, dict)]
    current = current or uuid.uuid4().hex[:12]
    chats = [c for c in chats if c.get("id") != current]
    if chat:
        entry = {
            "id": current,
            "title": _chat_title(chat),
            "at": time.time(),
            "chat": chat,
            "turns": [list(t) for t in turns or []],
        }
        chats.insert(0, entry)
    saved = {"current": current, "chats": chats[:SAVED_CHATS]}
    return saved, _past_choices(saved, current), current


def restore(saved: dict[str, Any] | None) -> tuple[list[Message], list[Turn], str, Any]:
    """On page load: the chat that was open, and the list of past chats."""
    saved = saved or {}
    current = str(saved.get("current") or "")
    entry = next((c for c in saved.get("chats", []) if c.get("id") == current), None)
    if entry is None:
        return [], [], uuid.uuid4().hex[:12], _past_choices(saved, "")
    turns = as_turns(entry.get("turns"))
    return list(entry.get("chat", [])), turns, current, _past_choices(saved, current)


def switch_chat(
    chosen: str | None, saved: dict[str, Any] | None
) -> tuple[list[Message], list[Turn], str, dict[str, Any]]:
    saved = dict(saved or {})
    entry = next((c for c in saved.get("chats", []) if c.get("id") == chosen), None)
    if entry is None:
        raise gr.Error("That chat is no longer saved in this browser.")
    saved["current"] = chosen
    turns = as_turns(entry.get("turns"))
    return list(entry.get("chat", [])), turns, str(chosen), saved


def new_chat(saved: dict[str, Any] | None) -> tuple[list[Message], list[Turn], str, Any]:
    """Start over; the chat so far stays in the list of past chats."""
    current = uuid.uuid4().hex[:12]
    return [], [], current, _past_choices(saved or {}, "")


def forget_chat(
    saved: dict[str, Any] | None, current: str
) -> tuple[list[Message], list[Turn], str, dict[str, Any], Any]:
    """The chatbot's trash button: this chat is gone, from the list too."""
    saved = dict(saved or {})
    saved["chats"] = [c for c in saved.get("chats", []) if c.get("id") != current]
    fresh = uuid.uuid4().hex[:12]
    saved["current"] = fresh
    return [], [], fresh, saved, _past_choices(saved, "")


def _past_choices(saved: dict[str, Any], current: str) -> Any:
    chats = [c for c in saved.get("chats", []) if isinstance(c, dict)]
    choices = [(str(c.get("title") or "Chat"), str(c.get("id"))) for c in chats]
    return gr.update(
        choices=choices, value=current if any(v == current for _, v in choices) else None
    )
