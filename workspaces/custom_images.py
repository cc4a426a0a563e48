"""Images users bring: references checked against the patterns an admin allows.

The catalog file may say ``custom_images: {allow: ["registry.example.org/team/*"]}``;
a spec's ``custom_image`` must then be a reference that matches one pattern.

A reference is parsed with the distribution grammar (``docker-image-py``, a port
of ``github.com/distribution/reference``) before it is matched, so that
``team/../x``, unicode look-alikes, uppercase paths and stray whitespace never
reach a pattern. It must name its registry host explicitly: ``team/x`` would
mean Docker Hub by a convention no pattern should have to know.

Pattern semantics, exactly:

- ``HOST[:PORT]/PATH``: the host (and port) must equal the reference's as
  written, character for character; ``*`` is not allowed there.
- In ``PATH``, ``*`` stands for one or more characters of one path component:
  it never crosses ``/``. ``registry.example.org/team/*`` matches
  ``registry.example.org/team/x`` but not ``.../team/x/y`` nor ``.../team-x``.
- The pattern matches the repository name only: any tag and any digest the
  grammar accepts may follow (``:1.2``, ``@sha256:<64 hex>``); no tag means
  ``latest``, as for every image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docker_image import reference
from pydantic import Field, field_validator

from .config import Model


class ImageRefError(ValueError):
    """Not an image reference we run; the message says why."""


NOT_ALLOWED = "custom images are not allowed on this hub; pick an image of the catalog"


@dataclass(frozen=True)
class ImageReference:
    host: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _has_host(first: str) -> bool:
    # distribution's splitDomain: the first component is a registry host only if it looks like one
    return "." in first or ":" in first or first == "localhost"


def parse_reference(text: str) -> ImageReference:
    """``text`` as a fully qualified reference, or :class:`ImageRefError` saying what is wrong."""
    try:
        parsed = reference.Reference.parse(text)
    except reference.InvalidReference as e:
        raise ImageRefError(f"not an image reference ({e})") from None
    name = parsed["name"]
    first, _, path = name.partition("/")
    if not path or not _has_host(first):
        raise ImageRefError("name the registry host, e.g. registry.example.org/team/image:tag")
    ref = ImageReference(first, path, parsed["tag"], parsed["digest"])
    # The parser's regular expressions end in '$', which also matches before a
    # final newline: only a reference that reads back exactly is taken.
    if str(ref) != text:
        raise ImageRefError("not an image reference (characters outside the grammar)")
    return ref


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    host, _, path = pattern.partition("/")
    parts = (re.escape(piece) for piece in path.split("*"))
    return re.compile(re.escape(host) + "/" + "[^/]+".join(parts))


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not an allow pattern, or None."""
    host, _, path = pattern.partition("/")
    if "*" in host:
        return f"{pattern!r}: the registry host must be written out; '*' may only stand in the path"
    if "**" in path:
        return f"{pattern!r}: '**' is not supported; '*' matches within one path component"
    try:
        ref = parse_reference(pattern.replace("*", "x"))
    except ImageRefError as e:
        return f"{pattern!r}: {e}"
    if ref.tag or ref.digest:
        return f"{pattern!r}: a pattern names repositories; leave out the tag or digest"
    return None


class CustomImages(Model):
    """Which image references users may run that the catalog does not list."""

    allow: list[str] = Field(
        default_factory=list,
        description="Patterns such as 'registry.example.org/team/*' ('*' within one path component); "
        "empty (the default): users may run catalog images only.",
    )

    @field_validator("allow")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(problem)
        return patterns

    def check(self, text: str) -> ImageReference:
        """The reference if ``text`` may run, else :class:`ImageRefError` listing what is allowed."""
        if not self.allow:
            raise ImageRefError(NOT_ALLOWED)
        allowed = "allowed patterns: " + ", ".join(self.allow)
        try:
            ref = parse_reference(text)
        except ImageRefError as e:
            raise ImageRefError(f"{text!r}: {e}; {allowed}") from None
        if not any(_pattern_regex(p).fullmatch(ref.name) for p in self.allow):
            raise ImageRefError(f"{text!r} matches no allowed pattern; {allowed}")
        return ref
