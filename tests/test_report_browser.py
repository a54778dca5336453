"""The HTML page driven in headless Chromium (Debian's, through Playwright): hover, click, filters, search.

Runs where Chromium and the playwright package are installed; skips with the reason elsewhere, and
fails instead under CI (env CI set), where scripts/test.sh installs Chromium.
"""

from __future__ import annotations

import os
import shutil

import pytest

from aspectbucket.compare import compare_sizes
from aspectbucket.report.compare_section import compare_section_html
from aspectbucket.report.html import HtmlSection, render_html
from aspectbucket.report.summary import summarize
from report_plans import make_plan, write_images

#: Chromium's switches for a quiet, offline, unprivileged run (no sandbox: tests may run as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = 'x<img src=x onerror="document.body.dataset.pwned=1">.png'
IMAGES = [
    ("wide.jpg", 768, 512),
    ("wide2.jpg", 900, 600),
    ("tall.jpg", 512, 752),
    ("strip.png", 1500, 250),
    ("tiny.jpg", 200, 150),
    ("turned.jpg", 800, 600, 6),
    (HOSTILE, 600, 400),
    ("broken.jpg", 0, 0, 1, "not an image: the content matches no image format"),
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (scripts/test.sh installs Chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install 'aspectbucket[test]')")
    executable = chromium_path()
    if executable is None:
        _unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page_of(browser, tmp_path):
    """Open a rendered page; yields ``(page, errors)``: console errors, page errors and network requests."""
    opened = []

    def open_page(html: str):
        path = tmp_path / "report.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route("**/*", lambda route: _local_only(route, errors))
        page.goto(path.as_uri())
        opened.append(page)
        return page, errors

    yield open_page
    for page in opened:
        page.close()


def _local_only(route, errors: list[str]) -> None:
    """Let the page's own file load; refuse and report anything else (the page must need no network)."""
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        errors.append(f"network request: {route.request.url}")
        route.abort()


@pytest.fixture
def rendered(tmp_path):
    write_images(tmp_path / "data" / "5_things", IMAGES)
    plan = make_plan(IMAGES, root=tmp_path / "data", subsets=[("5_things", 5)])
    return render_html(plan, summarize(plan), previews_per_bucket=1)


def visible_names(page) -> list[str]:
    return page.locator("#cards figure.card .name").all_inner_texts()


def test_hover_a_dot_shows_its_file_and_click_jumps_to_its_card(page_of, rendered):
    page, errors = page_of(rendered)
    dot = page.locator("svg .dot").first
    index = dot.get_attribute("data-i")
    dot.hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    expected = page.evaluate(f"JSON.parse(document.getElementById('report-data').textContent).images.name[{index}]")
    assert tip.inner_text().splitlines()[0] == expected
    assert "cut" in tip.inner_text() and "bucket" in tip.inner_text()
    dot.click()
    card = page.locator(f"#img-{index}")
    assert card.is_visible() and card.locator(".name").inner_text() == expected
    assert card.evaluate(
        "node => node.getBoundingClientRect().top >= 0 && node.getBoundingClientRect().bottom <= innerHeight"
    )
    assert errors == []


def test_click_a_card_enlarges_it_with_the_crop_overlay(page_of, rendered):
    page, errors = page_of(rendered)
    page.locator("#f-search").fill("strip")
    page.locator("#cards figure.card").first.click()
    box = page.locator("#lightbox")
    assert box.is_visible()
    picture = box.locator(".pic")
    size = picture.bounding_box()
    assert size["width"] > 400  # enlarged well past the card's 172 pixels
    keep = box.locator(".keep").bounding_box()
    # strip.png (1500x250) keeps the middle 1024 of 1536 resized columns: two thirds of the width.
    assert keep["width"] / size["width"] == pytest.approx(2 / 3, abs=0.01)
    assert box.locator(".name").inner_text() == "strip.png"
    page.keyboard.press("Escape")
    assert not box.is_visible()
    assert errors == []


def test_filters_and_search_change_the_visible_cards(page_of, rendered):
    page, errors = page_of(rendered)
    everything = visible_names(page)
    assert len(everything) == len(IMAGES)
    page.locator("#f-search").fill("WIDE")
    assert sorted(visible_names(page)) == ["wide.jpg", "wide2.jpg"]
    page.locator("#f-search").fill("")
    page.locator("#f-up").check()
    upscaled = visible_names(page)
    assert "tiny.jpg" in upscaled and "wide.jpg" not in upscaled
    page.locator("#f-up").uncheck()
    page.locator("#f-cut").fill("20")
    assert visible_names(page) == ["strip.png"]
    page.locator("#f-cut").fill("0")
    page.locator("#f-warn").check()
    warned = set(visible_names(page))
    assert {"strip.png", "turned.jpg", "broken.jpg"} <= warned and "wide.jpg" not in warned
    page.locator("#f-warn").uncheck()
    page.locator("#f-bucket").select_option(label="not placed")
    assert visible_names(page) == ["broken.jpg"]
    page.locator("#f-bucket").select_option("")
    page.locator("#worst-link").click()
    losses = page.evaluate(
        "Array.from(document.querySelectorAll('#cards figure.card')).map(c => "
        "JSON.parse(document.getElementById('report-data').textContent).images.loss[+c.dataset.i])"
    )
    assert losses == sorted(losses, reverse=True) and visible_names(page)[0] == "strip.png"
    assert page.evaluate("document.body.dataset.pwned") is None  # the hostile name stayed text
    assert HOSTILE in visible_names(page)
    assert errors == []


def test_upscale_and_exif_badges_and_a_bar_click_filters_its_bucket(page_of, rendered):
    page, errors = page_of(rendered)
    page.locator("#f-search").fill("tiny")
    assert page.locator("#cards .badge.up").inner_text().startswith("upscaled ")
    page.locator("#f-search").fill("turned")
    assert page.locator("#cards .badge.exif").inner_text() == "EXIF 6 ignored by the trainer"
    page.locator("#f-search").fill("")
    bar = page.locator("svg .bar").first
    key = bar.get_attribute("data-b")
    bar.click()
    assert page.locator("#f-bucket").input_value() == key
    shown = len(visible_names(page))
    assert 0 < shown < len(IMAGES)
    assert errors == []


def test_wide_tables_scroll_inside_the_page_instead_of_widening_it(page_of, tmp_path):
    names = [f"{'very_long_folder_name/' * 6}image{index}.jpg" for index in range(3)]
    comparison = compare_sizes([512, 4000, 300], [512, 500, 900], profiles=None, labels=names)
    plan = make_plan([(name, 768, 512) for name in names], root=tmp_path)
    section = HtmlSection("compare", "Trainers compared", compare_section_html(comparison))
    page, errors = page_of(render_html(plan, summarize(plan), sections=[section]))
    page.set_viewport_size({"width": 800, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    table = page.locator("#compare table").first
    assert table.evaluate("node => node.scrollWidth > node.clientWidth")  # it scrolls within itself
    assert errors == []
