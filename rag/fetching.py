"""Polite HTTP(S) fetching for feeds and article pages.

Fetching a URL someone typed is a request made *by this machine*: without a check, a feed URL
could point at ``http://127.0.0.1:8000/admin`` or a cloud metadata address and have its
answer stored and shown (server-side request forgery). So only ``http``/``https`` URLs
are fetched, and hosts that resolve to private, loopback, link-local or reserved addresses
are refused, at every redirect, unless ``RAG_FETCH_ALLOW_PRIVATE=1``.

Polite: a User-Agent naming the product, conditional GET (ETag / Last-Modified), a delay
between requests to the same host, a timeout, a size limit, retries with backoff for 5xx
and connection failures only (a 4xx is the server's final word).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from .errors import RagError

USER_AGENT = "rag-news/0.1 (news question answering; feed reader)"
MAX_REDIRECTS = 5


class FetchError(RagError):
    """A URL that could not be fetched; the message says why (and nothing was stored)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    """How fetching behaves; built from settings by :func:`policy_from`."""

    timeout: float = 20.0
    max_bytes: int = 5 * 1024 * 1024
    host_delay: float = 1.0
    retries: int = 2
    backoff: float = 1.0
    allow_private: bool = False
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""
    location: str = ""  # of a redirect

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_url(url: str, allow_private: bool = False) -> str:
    """The URL if it may be fetched, else FetchError with the reason."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(url, f"only http and https URLs are fetched, not {parts.scheme or '?'}:")
    host = parts.hostname
    if not host:
        raise FetchError(url, "the URL has no host")
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {host!r} ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise FetchError(
                url,
                f"{host} is a private or local address ({address}); fetching it is refused "
                f"unless RAG_FETCH_ALLOW_PRIVATE=1 (see README: server-side requests)",
            )
    return url


@dataclass
class Fetcher:
    """GETs URLs one at a time, waiting ``host_delay`` between requests to one host."""

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    _last: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, url: str, *, etag: str = "", last_modified: str = "") -> Response:
        """Fetch ``url`` following up to five redirects; FetchError on any failure."""
        import httpx

        headers = {"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        seen: list[str] = []
        current = url
        with httpx.Client(timeout=self.policy.timeout, follow_redirects=False) as client:
            while True:
                check_url(current, self.policy.allow_private)
                if current in seen:
                    raise FetchError(url, f"redirect loop ({' -> '.join([*seen, current])})")
                if len(seen) > MAX_REDIRECTS:
                    raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")
                seen.append(current)
                response = self._with_retries(client, current, headers)
                if response.status in (301, 302, 303, 307, 308):
                    location = response.location
                    if not location:
                        raise FetchError(url, f"HTTP {response.status} without a Location")
                    current = urllib.parse.urljoin(current, location)
                    continue
                return response

    def _wait_for_host(self, url: str) -> None:
        host = urllib.parse.urlsplit(url).netloc
        with self._lock:
            due = self._last.get(host, 0.0) + self.policy.host_delay
            pause = due - time.monotonic()
            self._last[host] = max(due, time.monotonic())
        if pause > 0:
            time.sleep(pause)

    def _with_retries(self, client: object, url: str, headers: dict[str, str]) -> Response:
        import httpx

        assert isinstance(client, httpx.Client)
        attempt = 0
        while True:
            self._wait_for_host(url)
            try:
                response = self._once(client, url, headers)
            except (httpx.TimeoutException, TimeoutError):
                reason = f"timed out after {self.policy.timeout:g} s"
                retry = True
            except httpx.TransportError as exc:
                reason = f"connection failed ({exc.__class__.__name__}: {exc})"
                retry = True
            else:
                if response.status < 500:
                    if response.status >= 400:
                        raise FetchError(url, f"HTTP {response.status}")
                    return response
                reason, retry = f"HTTP {response.status} (server error)", True
            if not retry or attempt >= self.policy.retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise FetchError(url, reason + tries)
            time.sleep(self.policy.backoff * 2**attempt)
            attempt += 1

    def _once(self, client: object, url: str, headers: dict[str, str]) -> Response:
        import httpx

        assert isinstance(client, httpx.Client)
        limit = self.policy.max_bytes
        with client.stream("GET", url, headers=headers) as r:
            if r.status_code in (301, 302, 303, 307, 308):
                return Response(url, r.status_code, location=r.headers.get("location", ""))
            if r.status_code != 200:
                return Response(url, r.status_code)
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(url, f"{int(declared):,} bytes, over the {limit:,}-byte limit")
            chunks: list[bytes] = []
            size = 0
            for chunk in r.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError(url, f"more than {limit:,} bytes, the size limit")
                chunks.append(chunk)
            return Response(
                url=str(r.url),
                status=200,
                body=b"".join(chunks),
                content_type=r.headers.get("content-type", ""),
                etag=r.headers.get("etag", ""),
                last_modified=r.headers.get("last-modified", ""),
            )
