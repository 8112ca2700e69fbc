"""The preview site as a person sees it, in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import copy_project
from deckgen import pipeline
from deckgen.preview import write_preview
from deckgen.project import slugify
from deckgen.render import inline_html

from anki_support import visible_text

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


class Site:
    def __init__(self, root: Path, out: Path):
        self.root = root
        self.out = out
        self.check = pipeline.check_project(root)
        self.cards: dict[str, dict] = {}
        for path in sorted((root / "cards").glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            for card in data["cards"]:
                self.cards[card["id"]] = {**card, "_theme": data["theme"]}

    def url(self, relative: str) -> str:
        rest, _, fragment = relative.partition("#")
        path, _, query = rest.partition("?")
        return (self.out / path).as_uri() + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")

    def first(self, kind: str) -> dict:
        return next(c for c in self.cards.values() if c["type"] == kind)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    root = copy_project(tmp_path_factory.mktemp("preview") / "project")
    out = root / "preview"
    write_preview(root, out)
    return Site(root, out)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no Chromium binary at /usr/bin/chromium (install Debian's: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def open_page(browser):
    """A page that records script errors and refuses (and records) anything but local files."""
    opened = []

    def open_(url: str, width: int = 1200):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.problems = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
        page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))

        def guard(route):
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                page.problems.append(f"network request: {route.request.url}")
                route.abort()

        page.route("**/*", guard)
        page.goto(url)
        opened.append(page)
        return page

    yield open_
    for page in opened:
        assert page.problems == [], page.problems
        page.close()


def test_index_shows_the_themes_and_filters_cards(site: Site, open_page):
    page = open_page(site.url("index.html"))
    themes = sorted({c["_theme"] for c in site.cards.values()}, key=str.casefold)
    rows = page.locator("#themes tbody tr")
    assert rows.count() == len(themes)
    assert [rows.nth(i).locator("td").first.inner_text().split("\n")[0] for i in range(len(themes))] == themes
    first_theme_cards = [c for c in site.cards.values() if c["_theme"] == themes[0]]
    assert rows.first.locator("td").nth(1).inner_text() == str(len(first_theme_cards))

    count = page.locator("[data-count]")
    assert count.inner_text() == f"{len(site.cards)} shown"
    page.select_option("#cards select[data-filter=type]", "quote")
    quotes = [c for c in site.cards.values() if c["type"] == "quote"]
    assert count.inner_text() == f"{len(quotes)} of {len(site.cards)} shown"
    visible = page.locator("#cards .pv-row:visible")
    assert visible.count() == len(quotes)
    assert set(visible.evaluate_all("rows => rows.map(r => r.dataset.type)")) == {"quote"}

    page.select_option("#cards select[data-filter=type]", "")
    target = site.first("figure")
    page.fill("#cards input[data-filter=q]", target["id"])
    assert page.locator("#cards .pv-row:visible").count() == 1
    page.locator("#cards .pv-row:visible a").click()
    page.wait_for_url(re.compile(rf"themes/{slugify(target['_theme'])}\.html#n-{target['id']}$"))
    assert page.locator(f"#n-{target['id']} .pv-back .card").is_visible()


def test_filters_by_theme_tag_and_source_agree_with_the_cards(site: Site, open_page):
    page = open_page(site.url("index.html"))
    any_card = next(c for c in site.cards.values() if c.get("tags"))
    tag = any_card["tags"][0]
    page.goto(site.url(f"index.html?tag={tag}"))
    tagged = page.locator("#cards .pv-row:visible")
    assert tagged.count() >= 1
    assert all(f" {tag} " in t for t in tagged.evaluate_all("rows => rows.map(r => r.dataset.tags)"))
    page.select_option("#cards select[data-filter=tag]", "")
    theme = any_card["_theme"]
    page.select_option("#cards select[data-filter=theme]", slugify(theme))
    in_theme = [c for c in site.cards.values() if c["_theme"] == theme]
    assert page.locator("#cards .pv-row:visible").count() == len(in_theme)
    page.select_option("#cards select[data-filter=theme]", "")
    page.select_option("#cards select[data-filter=source]", "kotkin-1932")
    sources = page.locator("#cards .pv-row:visible").evaluate_all("rows => rows.map(r => r.dataset.source)")
    assert sources and set(sources) == {"kotkin-1932"}


def test_a_card_shows_its_front_and_back_and_night_mode(site: Site, open_page):
    card = site.first("quote")
    page = open_page(site.url(f"themes/{slugify(card['_theme'])}.html#n-{card['id']}"))
    note = page.locator(f"#n-{card['id']}")
    front = note.locator(".pv-front .card").first
    back = note.locator(".pv-back .card").first
    quote = visible_text(inline_html(card["quote"]))
    assert quote in " ".join(front.inner_text().split())
    assert "Who said this?" in front.inner_text()
    back_text = " ".join(back.inner_text().split())
    assert visible_text(inline_html(card["speaker"])) in back_text
    assert back_text.endswith(card["id"]) and "SOURCE" in back_text
    assert back.locator("mark").first.is_visible()

    page.check("text=Fronts only")
    assert front.is_visible() and not back.is_visible()
    page.check("text=Front and back")

    def colours(locator):
        return locator.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]")

    day_bg, day_fg = colours(back)
    page.check("[data-night]")
    assert "nightMode" in back.get_attribute("class") and "night_mode" in back.get_attribute("class")
    night_bg, night_fg = colours(back)
    assert _brightness(day_bg) > 200 and _brightness(night_bg) < 50
    assert _brightness(day_fg) < 60 and _brightness(night_fg) > 200
    # The highlight and the muted labels change with it.
    assert _brightness(colours(back.locator("mark").first)[0]) < 120
    assert _brightness(colours(back.locator(".dg-cue").first)[1]) > 120


def test_cloze_date_and_figure_faces(site: Site, open_page):
    cloze = site.first("cloze")
    page = open_page(site.url(f"themes/{slugify(cloze['_theme'])}.html#n-{cloze['id']}"))
    faces = page.locator(f"#n-{cloze['id']} .pv-card").first
    assert "[" in faces.locator(".pv-front .cloze").first.inner_text()
    answer = re.search(r"\{\{c1::(.*?)(?:::.*?)?\}\}", cloze["text"]).group(1)
    assert faces.locator(".pv-back .cloze").first.inner_text() == visible_text(inline_html(answer))

    date = site.first("date")
    page.goto(site.url(f"themes/{slugify(date['_theme'])}.html#n-{date['id']}"))
    pairs = page.locator(f"#n-{date['id']} .pv-card")
    assert pairs.count() == 2
    assert "When?" in pairs.nth(0).locator(".pv-front").inner_text()
    assert "What happened?" in pairs.nth(1).locator(".pv-front").inner_text()

    figure = site.first("figure")
    page.goto(site.url(f"themes/{slugify(figure['_theme'])}.html#n-{figure['id']}"))
    assert page.locator(f"#n-{figure['id']} .pv-back .dg-value").inner_text() == str(figure["value"])


def test_source_reader_highlights_spans_that_link_to_their_cards(site: Site, open_page):
    source_id = "kotkin-1932"
    page = open_page(site.url(f"sources/{source_id}.html"))
    spans = page.locator("a.pv-hl")
    assert spans.count() >= 1
    first = spans.first
    assert first.is_visible()
    assert _brightness(first.evaluate("e => getComputedStyle(e).backgroundColor")) < 250  # visibly marked
    cards = first.get_attribute("data-cards").split(", ")
    coverage = [s for s in site.check.checked.anchors.items() if s[1].source_id == source_id]
    assert set(cards) <= {cid for cid, _ in coverage}
    share = page.locator(".pv-coverage-share").first.inner_text()
    assert re.fullmatch(r"\d{1,3}%", share)
    assert page.locator(".pv-strip .pv-cell").count() >= 1

    first.click()
    card = site.cards[cards[0]]
    page.wait_for_url(re.compile(rf"themes/{slugify(card['_theme'])}\.html#n-{cards[0]}$"))
    assert page.locator(f"#n-{cards[0]}").is_visible()

    # And back again: the card's link lands on its span.
    page.locator(f"#n-{cards[0]} a.pv-to-source").click()
    page.wait_for_url(re.compile(rf"sources/{source_id}\.html#span-{cards[0]}$"))
    anchor = site.check.checked.anchors[cards[0]]
    target = page.locator(f"#span-{cards[0]} + a.pv-hl")
    assert " ".join(anchor.matched.split()).startswith(" ".join(target.inner_text().split())[:20])


def test_paragraphs_without_a_card_are_marked_in_the_reader(tmp_path, open_page):
    """With the cards on one source taken away, every paragraph of it shows as having none."""
    root = copy_project(tmp_path / "project")
    removed = None
    for path in sorted((root / "cards").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        sources = {data.get("source")} | {c.get("source") for c in data["cards"]}
        if "kotkin-notes" in sources:
            path.unlink()
            removed = path.name
    assert removed, "some shipped card file should draw on kotkin-notes"
    gap = Site(root, root / "preview")
    result = write_preview(root, gap.out)
    (notes,) = [s for s in result.coverage.sources if s.source_id == "kotkin-notes"]
    assert notes.covered == 0 and notes.total > 0

    page = open_page(gap.url("sources/kotkin-notes.html"))
    marked = page.locator(".pv-uncovered")
    assert marked.count() == notes.total
    assert "no card yet" in marked.first.inner_text().lower()
    assert page.locator(".pv-strip .pv-cell-gap").count() == notes.total
    assert page.locator(".pv-coverage-share").inner_text() == "0%"
    assert page.locator("a.pv-hl").count() == 0


def test_pages_fit_a_phone(site: Site, open_page):
    card = site.first("quote")
    for relative in ("index.html", f"themes/{slugify(card['_theme'])}.html", "sources/wesser-2021.html"):
        page = open_page(site.url(relative), width=390)
        overflow = page.evaluate("document.scrollingElement.scrollWidth")
        assert overflow <= 390, f"{relative} scrolls sideways on a phone ({overflow}px)"
        if relative.startswith("themes/"):
            # The deck's own phone rules apply, as on AnkiDroid and AnkiMobile.
            assert page.evaluate("getComputedStyle(document.querySelector('.pv-face .card')).fontSize") == "18px"


def _brightness(css_colour: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css_colour)[:3])
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_a_long_card_list_lays_out_only_its_first_rows(tmp_path, open_page, monkeypatch):
    from deckgen import preview

    monkeypatch.setattr(preview, "LIST_LIMIT", 5)
    root = copy_project(tmp_path / "project")
    long_list = Site(root, root / "preview")
    write_preview(root, long_list.out)
    page = open_page(long_list.url("index.html"))
    assert page.locator("#cards .pv-row:visible").count() == 5
    assert page.locator("[data-more]").inner_text().startswith(f"Showing the first 5 of {len(long_list.cards)}")
    page.select_option("#cards select[data-filter=type]", "figure")
    figures = sum(c["type"] == "figure" for c in long_list.cards.values())
    assert page.locator("[data-count]").inner_text() == f"{figures} of {len(long_list.cards)} shown"
    assert page.locator("#cards .pv-row:visible").count() == min(5, figures)
