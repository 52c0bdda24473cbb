"""The ``provider_routing`` block: a typed model, validation with fixes, and merging back.

Hermes reads ``sort``, ``only``, ``ignore``, ``order``, ``require_parameters`` and
``data_collection``; any other key in the block (``models`` overrides, keys of newer
Hermes versions) is kept exactly as it is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SORTS = ("price", "throughput", "latency")
DATA_COLLECTION = ("allow", "deny")
LIST_FIELDS = ("only", "ignore", "order")
KNOWN_KEYS = ("sort", "only", "ignore", "order", "require_parameters", "data_collection")
#: OpenRouter provider slugs: lowercase words joined by '-', '.', '_', an optional '/variant'.
SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$")


@dataclass(frozen=True)
class Issue:
    """One validation finding; errors block a save, warnings only inform."""

    field: str
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class RoutingRules:
    """The routing keys Hermes understands; None / () mean unset."""

    sort: str | None = None
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    require_parameters: bool | None = None
    data_collection: str | None = None
    #: Values of known keys that could not be understood (kept for error messages).
    raw_problems: tuple[Issue, ...] = field(default=(), compare=False)

    @classmethod
    def from_block(cls, block: Mapping[str, Any]) -> RoutingRules:
        """Read a parsed block leniently; odd values become ``raw_problems``."""
        problems: list[Issue] = []

        def text(key: str) -> str | None:
            v = block.get(key)
            if v is None:
                return None
            if not isinstance(v, str):
                problems.append(Issue(key, "error", f"must be a word, not {v!r}"))
                return None
            return v

        def items(key: str) -> tuple[str, ...]:
            v = block.get(key)
            if v is None:
                return ()
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list):
                problems.append(Issue(key, "error", f"must be a list of provider slugs, not {v!r}"))
                return ()
            return tuple(str(x) if x is not None else "" for x in v)

        rp = block.get("require_parameters")
        if rp is not None and not isinstance(rp, bool):
            problems.append(
                Issue("require_parameters", "error", f"must be true or false, not {rp!r}")
            )
            rp = None
        return cls(
            sort=text("sort"),
            only=items("only"),
            ignore=items("ignore"),
            order=items("order"),
            require_parameters=rp,
            data_collection=text("data_collection"),
            raw_problems=tuple(problems),
        )

    def as_block(self) -> dict[str, Any]:
        """The known keys as Hermes should read them (unset keys left out)."""
        out: dict[str, Any] = {}
        if self.sort:
            out["sort"] = self.sort
        for name in LIST_FIELDS:
            values = getattr(self, name)
            if values:
                out[name] = list(values)
        if self.require_parameters is not None:
            out["require_parameters"] = self.require_parameters
        if self.data_collection:
            out["data_collection"] = self.data_collection
        return out


def parse_slugs(text: str) -> tuple[str, ...]:
    """``"deepinfra, together"`` -> ``("deepinfra", "together")`` (blank items dropped)."""
    return tuple(s.strip() for s in text.replace("\n", ",").split(",") if s.strip())


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
        seen.add(v)
    return dups


def _base(slug: str) -> str:
    return slug.split("/", 1)[0]


def validate(rules: RoutingRules, known_slugs: Iterable[str] | None = None) -> list[Issue]:
    """Every problem with the rules, each saying what is wrong and how to fix it."""
    issues = list(rules.raw_problems)
    if rules.sort is not None and rules.sort not in SORTS:
        issues.append(
            Issue(
                "sort", "error", f"{rules.sort!r} is not a sort: use {', '.join(SORTS)} or unset it"
            )
        )
    if rules.data_collection is not None and rules.data_collection not in DATA_COLLECTION:
        issues.append(
            Issue(
                "data_collection",
                "error",
                f"{rules.data_collection!r} is not allowed: use allow or deny",
            )
        )
    known = sorted(set(known_slugs)) if known_slugs is not None else None
    known_bases = {_base(k) for k in known} if known is not None else set()
    for name in LIST_FIELDS:
        values: tuple[str, ...] = getattr(rules, name)
        for slug in values:
            if not slug.strip():
                issues.append(Issue(name, "error", "has an empty provider name: remove it"))
            elif not SLUG.match(slug):
                hint = slug.strip().lower().replace(" ", "-")
                issues.append(
                    Issue(
                        name, "error", f"{slug!r} is not a provider slug (lowercase, like {hint!r})"
                    )
                )
            elif known is not None and slug not in known and _base(slug) not in known_bases:
                close = difflib.get_close_matches(slug, known, n=3, cutoff=0.6)
                fix = f"; did you mean {', '.join(close)}?" if close else ""
                issues.append(
                    Issue(name, "warning", f"{slug!r} is not a provider OpenRouter lists{fix}")
                )
        for dup in _duplicates(values):
            issues.append(Issue(name, "error", f"{dup!r} is listed twice: keep one"))
    for other in ("only", "order"):
        both = [s for s in getattr(rules, other) if s in rules.ignore]
        for slug in both:
            issues.append(
                Issue(other, "error", f"{slug!r} is in both {other} and ignore: remove it from one")
            )
    return issues


def errors_in(issues: Iterable[Issue]) -> list[Issue]:
    """Only the blocking ones."""
    return [i for i in issues if i.severity == "error"]
