"""Stream URLs carry passwords: these helpers keep them out of logs, errors and pages."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

# scheme://user:password@host  ->  scheme://***@host (also user@host with no password).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# ?password=...&token=... style secrets in query strings.
_QUERY_SECRET = re.compile(r"(?i)(?P<key>(?:password|passwd|pwd|pass|token|auth|key|secret)=)[^&\s]+")
# Any value in a URL's query: cameras use keys of their own (`loginpas=`).
_QUERY_VALUE = re.compile(r"(?P<key>[?&;][^=&;#\s?]+=)[^&;#\s]+")


def redact(text: str, *secrets: str) -> str:
    """`text` with URL credentials, secret query values and each of `secrets` replaced by ***."""
    if not text:
        return text
    out = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    out = _QUERY_VALUE.sub(lambda m: f"{m.group('key')}***", out)
    out = _QUERY_SECRET.sub(lambda m: f"{m.group('key')}***", out)
    for secret in secrets:
        if secret and len(secret) >= 3:
            out = out.replace(secret, "***")
            quoted = quote(secret, safe="")
            if quoted != secret:
                out = out.replace(quoted, "***")
    return out


def split_credentials(url: str) -> tuple[str, str, str]:
    """(url without userinfo, username, password) from a URL that may embed them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, "", ""
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(username), unquote(password)


def with_credentials(url: str, username: str, password: str) -> str:
    """The URL a reader opens: userinfo put back in. Never log the result."""
    if not username:
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment))


def split_query(url: str) -> tuple[str, str]:
    """(url without its query string, the query string) - the query is stored encrypted."""
    parts = urlsplit(url)
    if not parts.query:
        return url, ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment)), parts.query


def with_query(url: str, query: str) -> str:
    """The URL a reader opens: the stored query string put back. Never log the result."""
    if not query:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
