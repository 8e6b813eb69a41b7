"""The web UI: ask the news articles questions and see the passages each answer rests on.

``rag serve`` or ``python ui.py`` runs it on http://127.0.0.1:7860. Presentation only:
answering, ingesting, the library and statistics come from :mod:`rag`. Importing this
package imports Gradio; ``import rag`` never does.

    app.py       layout, events wired to handlers, launching
    handlers.py  the chat: accepting a question, streaming its answer, filters, /answer
    library.py   uploads, feed and article URLs, index status, the library, the article view
    chats.py     chats kept in the browser's local storage
    render.py    the HTML of messages: answers, sources, errors (all text escaped there)
    panels.py    the HTML around the chat: status, chips, upload reports, library, article
    assets/      the page's CSS and script
"""

from __future__ import annotations

from .app import EXAMPLES, bind_warning, build_app, launch, main, parse_auth, warm_up
from .handlers import Handlers, build_filters, parse_history

__all__ = [
    "EXAMPLES",
    "Handlers",
    "bind_warning",
    "build_app",
    "build_filters",
    "launch",
    "main",
    "parse_auth",
    "parse_history",
    "warm_up",
]
