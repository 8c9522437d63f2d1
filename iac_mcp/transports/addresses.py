"""Where a peer or a URL is: loopback or not, and whether a URL may carry credentials or keys.

Pure (no I/O), so the settings can check OAuth URLs with the same rule the HTTP app applies to peers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (IPv6 with or without brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secure_url_problem(url: str) -> str | None:
    """Why `url` cannot name an identity provider's endpoint, or None when it can: https, or plain
    http to loopback only (a test provider on this machine), with a host and no credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "it is malformed"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must be an https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "it must not hold credentials"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "plain http:// is only for loopback: tokens and keys would travel unprotected"
    return None
