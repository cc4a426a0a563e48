"""Collision-free, filesystem- and DNS-safe names for a workspace.

``(user, server)`` maps to one name made of lowercase letters, digits and
'-'. Each part is escaped with escapism, which turns every character outside
``[a-z0-9]`` -- '-' included -- into ``-XX`` (its hex code). So an escaped part
never contains ``--`` and never ends in '-', which makes ``--`` an unambiguous
separator: two different pairs never share a name. The default server (name
``''``) has no separator at all, so it cannot collide with a named one.

A name longer than ``max_length`` keeps a prefix and ends in a hash of the
full name (``-h`` + 10 hex digits), which keeps it unique in practice.

On Kubernetes the name becomes object names (:func:`object_name`), label values
(:func:`label_value`) and namespaces (:func:`template_namespace`), and each
must pass the API server's checks, named here as predicates (``is_dns_label``,
``is_label_value``, ...). A name whose first character was escaped begins with
'-', which a label value or namespace may not: those get :data:`LEAD` in front.
Names that were valid before never change: a changed name orphans a PVC.
"""

from __future__ import annotations

import hashlib
import re
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


# -- what the Kubernetes API server accepts (apimachinery's validation) ----------

MAX_NAME = 63  # a DNS-1123 label: Kubernetes names and namespaces, and label values
MAX_SUBDOMAIN = 253  # a DNS-1123 subdomain: PVC names, label and annotation key prefixes
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def is_dns_label(name: str) -> bool:
    """A valid name of a pod, Service or namespace."""
    return len(name) <= MAX_NAME and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    """A valid name of a PersistentVolumeClaim (and most other objects)."""
    return len(name) <= MAX_SUBDOMAIN and _DNS_SUBDOMAIN.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    """A valid label value: empty, or at most 63 characters that begin and end with a letter or digit."""
    return len(value) <= MAX_NAME and _LABEL_VALUE.fullmatch(value) is not None


def is_qualified_name(key: str) -> bool:
    """A valid label or annotation key: an optional DNS-subdomain prefix and '/', then a non-empty name."""
    *prefix, name = key.split("/")
    return len(prefix) <= 1 and all(is_dns_subdomain(p) for p in prefix) and bool(name) and is_label_value(name)


# -- the names a workspace gets on Kubernetes ---------------------------------------

NAME_PREFIX = "ws-"
# Put before an escaped name that begins with '-'. The result begins with 'x--', and
# '--' occurs in no escaped name (every '-' there is followed by two hex digits), so
# no other name can be the same.
LEAD = "x-"


def _led(value: str, max_length: int) -> str:
    return LEAD + workspace_name(value, "", max_length - len(LEAD))


def object_name(user: str, server: str) -> str:
    """The pod, PVC and Service name of a workspace: collision-free, a DNS-1123 label."""
    return NAME_PREFIX + workspace_name(user, server, MAX_NAME - len(NAME_PREFIX))


def label_value(value: str) -> str:
    """A label value (at most 63 characters of [a-z0-9-], never empty) naming ``value``."""
    name = workspace_name(value, "", MAX_NAME) or "none"
    return name if is_label_value(name) else _led(value, MAX_NAME)


def template_namespace(template: str, user: str) -> str:
    """A user's namespace from ``kubernetes.namespace_template``, shortened (with a hash) to a DNS label."""
    room = MAX_NAME - len(template.format(username=""))
    namespace = template.format(username=workspace_name(user, "", room))
    # a template that begins with {username} and a name that begins with '-'
    return namespace if is_dns_label(namespace) else template.format(username=_led(user, room))
