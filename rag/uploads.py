"""Upload policy: where uploaded files go, under which name, and which ones are refused.

The web UI calls these; so can any other front end. An upload never replaces another file.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from pathlib import Path

from .config import Settings
from .loaders import SUPPORTED_SUFFIXES


class UploadError(ValueError):
    """An uploaded file that is not saved; the message says why."""


def safe_filename(name: str) -> str:
    """A file name that cannot leave the uploads folder: no folders, no leading dots.

    Letters of every script are kept (``新闻.txt`` stays ``新闻.txt``); accents on Latin
    letters are dropped (é -> e); anything else that is not a letter, digit, ``.``, ``_``
    or ``-`` becomes ``_``.

    >>> safe_filename("../../x.txt")
    'x.txt'
    """
    folded: list[str] = []
    for ch in unicodedata.normalize("NFKD", name):
        if unicodedata.category(ch) == "Mn" and folded and folded[-1].isascii():
            continue  # the accent of a Latin letter
        folded.append(ch)
    text = unicodedata.normalize("NFC", "".join(folded))
    base = text.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[^\w.-]+", "_", base).strip("._-")
    stem, suffix = os.path.splitext(base)
    return (stem.strip("._-")[:120] or "upload") + suffix.lower()


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded articles are kept: inside the corpus, so `rag ingest` keeps them too."""
    return settings.corpus_dir / "uploads"


def save_upload(source: str | Path, name: str, folder: Path, max_mb: float) -> Path:
    """Copy one uploaded file into ``folder`` under a safe name; UploadError if refused.

    An upload never replaces another one: when its name is taken by a different file it is
    saved as ``name-2``, ``name-3``, ... (the same file uploaded again keeps its name).
    """
    source = Path(source)
    safe = safe_filename(name)
    stem, suffix = os.path.splitext(safe)
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    size = source.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise UploadError(
            f"{size / 1024 / 1024:.1f} MB is over the {max_mb:g} MB limit (RAG_UPLOAD_MAX_MB)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    for n in range(1, 1000):
        target = (folder / (safe if n == 1 else f"{stem}-{n}{suffix}")).resolve()
        if target.parent != folder.resolve():  # belt and braces: safe_filename prevents it
            raise UploadError("the file name points outside the uploads folder")
        if _claim(target, data):
            return target
    raise UploadError(f"too many uploads named {safe}: rename the file and upload it again")


def _claim(target: Path, data: bytes) -> bool:
    """Write ``data`` to ``target`` unless another file holds that name (never replacing it)."""
    if target.exists():
        return target.is_file() and target.read_bytes() == data  # the same upload again
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.link(tmp, target)  # fails if the name was taken meanwhile: nothing is replaced
    except FileExistsError:
        return target.read_bytes() == data
    finally:
        tmp.unlink(missing_ok=True)
    return True
