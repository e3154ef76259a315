"""A real browser (Playwright driving Debian's chromium) on the default demo; saves a screenshot of each tab."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rsgpt4v import prompts

pytestmark = pytest.mark.slow

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page(served):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed on PATH (make debs installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(served[1])
        yield page
        browser.close()


def _rendered(page, selector):
    """Whether the element's images have all loaded with a real size (the annotated image is drawn)."""
    return page.eval_on_selector(
        selector,
        "el => { const imgs = [...el.querySelectorAll('img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
    )


def test_tabs_record_vqa_question_and_screenshots(page, explorer, tiny_predictor, reports):
    page.get_by_text("tiny untrained demo model").wait_for()

    # Explore: switch to the grounding config and pick a record by its id.
    target = explorer.index("grounding", "test")[3]
    page.locator("#explore-config input").click()
    page.get_by_role("option", name="grounding", exact=True).click()
    page.locator("#explore-status").get_by_text("grounding / test").wait_for()
    page.locator("#explore-id textarea, #explore-id input").first.fill(target.question_id)
    page.locator("#explore-go").click()
    page.locator("#explore-status").get_by_text(target.question_id).wait_for()
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#explore-image img')];"
        " return imgs.length >= 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    assert _rendered(page, "#explore-image")
    assert (
        page.locator("#explore-image").get_by_text(explorer.render("grounding", "test", 3).fields["category"]).count()
    )
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "demo-explore.png"), full_page=True)

    # Ask: a VQA question about the record shown in Explore.
    page.get_by_role("tab", name="Ask").click()
    page.locator("#ask-use-record").click()
    reference = page.locator("#ask-reference textarea, #ask-reference input").first
    page.wait_for_function(
        "qid => { const el = document.querySelector('#ask-reference textarea, #ask-reference input');"
        " return el && el.value === qid; }",
        arg=target.question_id,
    )
    assert reference.input_value() == target.question_id
    page.locator("#ask-question textarea, #ask-question input").first.fill("Is there a building?")
    page.locator("#ask-button").click()
    image = explorer.render("grounding", "test", 3).item["image"].convert("RGB")
    expected = tiny_predictor.ask(image, prompts.instruction("vqa", question="Is there a building?"))
    assert expected
    page.wait_for_function(
        "text => { const el = document.querySelector('#ask-answer textarea, #ask-answer input');"
        " return el && el.value === text; }",
        arg=expected,
    )
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#ask-image img')];"
        " return imgs.length >= 1 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    assert _rendered(page, "#ask-image")
    page.screenshot(path=str(IMAGES / "demo-ask.png"), full_page=True)

    # Evaluate: two reports side by side.
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#report-a input[type=file]").set_input_files(str(reports[0]))
    page.locator("#report-b input[type=file]").set_input_files(str(reports[1]))
    page.locator("#report-b").get_by_text("report.json").first.wait_for()
    page.locator("#compare-button").click()
    page.locator("#compare-summary").get_by_text("Scores are x 100").wait_for()
    page.locator("#compare-scores").get_by_text("overall", exact=True).first.wait_for()
    page.screenshot(path=str(IMAGES / "demo-evaluate.png"), full_page=True)
    for name in ("demo-explore.png", "demo-ask.png", "demo-evaluate.png"):
        assert (IMAGES / name).stat().st_size > 10_000
