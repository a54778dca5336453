"""A part of the HTML report page, and the escaping every part uses.

Kept apart from :mod:`aspectbucket.report.html` so that modules adding sections (the gallery, a
trainer comparison, a ledger) need not import the whole page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class HtmlSection:
    """One part of the page: ``anchor`` for the contents list, a ``title`` and ready, escaped HTML."""

    anchor: str
    title: str
    body: str


def escape(value) -> str:
    """Any value as HTML text, quotes included (safe inside attributes)."""
    return html.escape(str(value), quote=True)
