"""The names JupyterHub accepts, as hypothesis strategies, and what a Kubernetes API server refuses.

Made to be reused: the same strategies drive the stand-in tests here and, later,
tests against a real API server, which is the authority on what it accepts.

- :func:`user_names`: what a user may be called once JupyterHub's Authenticator
  has normalized the login name (lower-cased) and validated it (no '/', not
  empty, not only dots, no leading or trailing space): nearly any text.
- :func:`server_names`: '' (the default server), JupyterHub 6's names for new
  servers (safe slugs: lowercase letters, digits and single '-', 1-30), and any
  name without '/' that an older hub stored before those rules.
- :func:`names`: (user, server) pairs.
- ``TRICKY_USERS``, ``TRICKY_SERVERS``: shapes every run checks.
- :func:`refusals`: what a real API server would refuse in an object this
  backend writes, as readable lines (empty: accepted).
"""

from __future__ import annotations

from typing import Any

from hypothesis import example
from hypothesis import strategies as st
from jupyterhub.auth import Authenticator
from jupyterhub.slugs import is_valid_safe_slug

from workspaces.naming import is_dns_label, is_dns_subdomain, is_label_value, is_qualified_name

TRICKY_USERS = [
    "alice",
    "alice@example.com",
    "ü",
    "日本",
    "-alice",
    "alice-",
    ".x",
    "_x_",
    "a..b",
    "x" * 120,
    "ü" * 40,
    "a--b",
    "0",
]
TRICKY_SERVERS = ["", "train", "a-b", "x" * 30, "Train", "-x", "x-", "_x_", "a..b", "日本", "y" * 120]

# pieces that make names interesting: what escaping, truncation and slugs treat specially
_PIECES = st.sampled_from(["-", "--", ".", "_", "@", " ", "ü", "日本", "A", "a", "z", "0", "9", "example.com"])
_WORDS = st.text(alphabet="abcxyz0189", min_size=1, max_size=12)


def _raw_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=130),
        st.lists(st.one_of(_PIECES, _WORDS), min_size=1, max_size=30).map("".join),
    )


_authenticator = Authenticator()


def user_names() -> st.SearchStrategy[str]:
    """Names JupyterHub gives users: the login name normalized and validated by its Authenticator."""
    return _raw_names().map(_authenticator.normalize_username).filter(_authenticator.validate_username)


def server_names() -> st.SearchStrategy[str]:
    """The default server, JupyterHub 6's safe-slug names, and the free names older hubs stored."""
    safe_slugs = st.from_regex(r"[a-z][a-z0-9]{0,9}(-[a-z0-9]{1,9}){0,3}", fullmatch=True).filter(is_valid_safe_slug)
    older = _raw_names().filter(lambda name: "/" not in name)
    return st.one_of(st.just(""), safe_slugs, older)


def names() -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(user_names(), server_names())


def _metadata_refusals(meta: dict[str, Any], name_ok: Any) -> list[str]:
    found = []
    if not name_ok(meta.get("name", "")):
        found.append(f"name {meta.get('name')!r}")
    for key, value in (meta.get("labels") or {}).items():
        if not is_qualified_name(key) or not is_label_value(value):
            found.append(f"label {key}={value!r}")
    for key, value in (meta.get("annotations") or {}).items():
        if not is_qualified_name(key) or not isinstance(value, str):
            found.append(f"annotation {key}={value!r}")
    return found


def refusals(kind: str, obj: dict[str, Any]) -> list[str]:
    """What a real API server would refuse in ``obj`` of ``kind`` (plural, e.g. "pods")."""
    found = _metadata_refusals(obj["metadata"], is_dns_subdomain if kind == "persistentvolumeclaims" else is_dns_label)
    spec = obj.get("spec") or {}
    if kind == "pods":
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if not is_dns_label(container["name"]):
                found.append(f"container name {container['name']!r}")
        for volume in spec.get("volumes") or []:
            if not is_dns_label(volume["name"]):
                found.append(f"volume name {volume['name']!r}")
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is not None and not is_dns_subdomain(claim):
                found.append(f"claimName {claim!r}")
    if kind == "services":
        for key, value in (spec.get("selector") or {}).items():
            if not is_qualified_name(key) or not is_label_value(value):
                found.append(f"selector {key}={value!r}")
    return found


def with_tricky_names(test):
    """Check the tricky shapes above on every run, besides what hypothesis draws (a test of (user, server) pairs)."""
    for user in TRICKY_USERS:
        test = example((user, "train"))(test)
    for server in TRICKY_SERVERS:
        test = example(("alice", server))(test)
    return test
