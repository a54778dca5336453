"""Named choices (string enums) parsed once, with an error that names the allowed values.

Settings are validated up front; every option that takes one of a few names goes through
:func:`parse_choice`, so a bad value reads the same wherever it is given.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

Choice = TypeVar("Choice", bound=StrEnum)


def parse_choice(kind: type[Choice], value: object, what: str) -> Choice:
    """``value`` as a member of ``kind``; a bad one raises ``ValueError`` naming ``what`` and the allowed values.

    >>> from aspectbucket.geometry.batches import BatchPolicy
    >>> parse_choice(BatchPolicy, "drop", "batch policy")
    <BatchPolicy.DROP: 'drop'>
    >>> parse_choice(BatchPolicy, "later", "batch policy")
    Traceback (most recent call last):
    ...
    ValueError: batch policy 'later' is not one of: short, drop, pad, merge
    """
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValueError(f"{what} {value!r} is not one of: {allowed}") from None
