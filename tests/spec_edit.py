"""Editing a parsed grid file for the bad-input tables: ``edit(base, types__0__share=0.4)``
sets ``types[0].share``; :data:`DROP` removes a key."""

from __future__ import annotations

import json

#: Value that removes the key instead of setting it.
DROP = object()


def edit(base: dict, **changes) -> dict:
    """A deep copy of ``base`` with each ``a__b__0__c = value`` applied (list indices as numbers)."""
    d = json.loads(json.dumps(base))
    for path, value in changes.items():
        *head, last = path.split("__")
        t = d
        for k in head:
            t = t[int(k)] if isinstance(t, list) else t.setdefault(k, {})
        if value is DROP:
            t.pop(last)
        else:
            t[last] = value
    return d
