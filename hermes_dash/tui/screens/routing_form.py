"""What the routing editor's widgets hold, and the rules they mean.

The editor must never change a key the user did not touch: a value the widgets cannot
show as written (``only: deepinfra`` as a plain string, a list in an unsorted or
duplicated order, ``sort: fastest``, ``require_parameters`` absent rather than false) has
to survive a save. So the form is compared field by field with what it showed right after
filling: an untouched field keeps the file's own value and is left out of the write.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hermes_dash.routing.rules import DATA_COLLECTION, SORTS, RoutingRules

#: The fields of the form, named as the keys of provider_routing.
FIELDS = ("sort", "only", "ignore", "order", "require_parameters", "data_collection")


@dataclass(frozen=True)
class FormValues:
    """The widgets' state: a Select shows a choice or nothing, a SelectionList a set of
    ticked slugs, the order list a sequence, the switch on or off."""

    sort: str | None
    only: frozenset[str]
    ignore: frozenset[str]
    order: tuple[str, ...]
    require_parameters: bool
    data_collection: str | None

    @classmethod
    def showing(cls, rules: RoutingRules) -> FormValues:
        """What the form must show for these rules (values it has no choice for show as
        unset, with their error beside them)."""
        return cls(
            sort=rules.sort if rules.sort in SORTS else None,
            only=frozenset(rules.only),
            ignore=frozenset(rules.ignore),
            order=tuple(rules.order),
            require_parameters=bool(rules.require_parameters),
            data_collection=(
                rules.data_collection if rules.data_collection in DATA_COLLECTION else None
            ),
        )

    def differences(self, other: FormValues) -> list[str]:
        """The fields whose values differ, in form order."""
        return [f for f in FIELDS if getattr(self, f) != getattr(other, f)]


def _list(original: tuple[str, ...], ticked: list[str]) -> tuple[str, ...]:
    """The file's order for slugs still ticked, then newly ticked ones in ticking order."""
    chosen = set(ticked)
    kept = tuple(dict.fromkeys(s for s in original if s in chosen))
    return kept + tuple(s for s in ticked if s not in kept)


def draft_rules(
    original: RoutingRules,
    filled: FormValues,
    now: FormValues,
    ticked: dict[str, list[str]],
) -> tuple[RoutingRules, tuple[str, ...]]:
    """The rules the form describes, and the fields the user changed.

    ``filled`` is what the widgets held right after filling, ``now`` what they hold;
    ``ticked`` gives the ticked slugs of ``only`` and ``ignore`` in ticking order.
    """
    changed = tuple(filled.differences(now))
    rules = original
    for name in changed:
        value: Any
        if name in ("only", "ignore"):
            value = _list(getattr(original, name), ticked[name])
        elif name == "order":
            value = now.order
        elif name == "require_parameters":
            # Turned off: say false (only true is sent, so both mean "not required").
            value = now.require_parameters
        else:
            value = getattr(now, name)
        rules = replace(rules, **{name: value})
    problems = tuple(p for p in original.raw_problems if p.field not in changed)
    return replace(rules, raw_problems=problems), changed
