"""Collision-free, filesystem- and DNS-safe names for a workspace.

``(user, server)`` maps to one name made of lowercase letters, digits and
'-'. Each part is escaped with escapism, which turns every character outside
``[a-z0-9]`` -- '-' included -- into ``-XX`` (its hex code). So an escaped part
never contains ``--`` and never ends in '-', which makes ``--`` an unambiguous
separator: two different pairs never share a name. The default server (name
``''``) has no separator at all, so it cannot collide with a named one.

A name longer than ``max_length`` keeps a prefix and ends in a hash of the
full name (``-h`` + 10 hex digits), which keeps it unique in practice.
"""

from __future__ import annotations

import hashlib
import string

from escapism import escape

SAFE_CHARS = set(string.ascii_lowercase + string.digits)
SEPARATOR = "--"
HASH_LENGTH = 10


def escape_part(value: str) -> str:
    # escapism writes hex codes in upper case; lower-casing them is lossless
    # (every upper-case letter of the input was escaped) and DNS-safe.
    return escape(value, safe=SAFE_CHARS, escape_char="-").lower()


def workspace_name(user: str, server: str = "", max_length: int | None = None) -> str:
    """The one name of ``(user, server)``; at most ``max_length`` characters."""
    name = escape_part(user)
    if server:
        name += SEPARATOR + escape_part(server)
    if max_length is not None and len(name) > max_length:
        digest = hashlib.sha256(f"{user}\0{server}".encode()).hexdigest()[:HASH_LENGTH]
        suffix = f"-h{digest}"
        if max_length <= len(suffix):
            raise ValueError(f"max_length must be more than {len(suffix)}")
        name = name[: max_length - len(suffix)].rstrip("-") + suffix
    return name


MAX_NAME = 63  # a DNS-1123 label: Kubernetes names and namespaces


def template_namespace(template: str, user: str) -> str:
    """A user's namespace from ``kubernetes.namespace_template``, shortened (with a hash) to a DNS label."""
    room = MAX_NAME - len(template.format(username=""))
    return template.format(username=workspace_name(user, "", room))
