"""Presentation of a dataset plan: the terminal report, JSON and CSV files, charts and the HTML page."""

from __future__ import annotations

from aspectbucket.report.files import (
    report_document,
    write_csv,
    write_json,
)
from aspectbucket.report.html import HtmlSection, render_html, write_html
from aspectbucket.report.summary import ReportSummary, WarningKind, summarize
from aspectbucket.report.terminal import print_report

__all__ = [
    "HtmlSection",
    "ReportSummary",
    "WarningKind",
    "print_report",
    "render_html",
    "report_document",
    "summarize",
    "write_csv",
    "write_html",
    "write_json",
]
