"""The dashboard in real headless Chromium, driven by Playwright.

Chromium is Debian's package at /usr/bin/chromium, installed by
`scripts/ensure-chromium.sh` (`make test` runs it). Playwright never
downloads a browser here: it starts that executable. When the browser is
missing, the tests fail with a message on how to install it. They are
never skipped.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_helpers import running_service
from vpm.pipeline import run_cycle

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture turns this into a failure
    expect = sync_playwright = None

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
MERMAID = REPO / "src" / "vpm" / "api" / "static" / "vendor" / "mermaid.min.js"
# Polling waits go through `expect`, because `page.wait_for_function` with a
# string evaluates it with eval, which the dashboard's CSP blocks.
# Flags for a machine with no display and a closed network: without the
# background-networking ones Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INJECTED = "<script>window.__vpmInjected = 1</script>"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}; run scripts/ensure-chromium.sh as "
            "root (make test does) or apt-get install chromium."
        )
    if sync_playwright is None:
        pytest.fail("the playwright package is missing; pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def injected_project(example: Path) -> Path:
    """The demo with a `<script>` in its state, run once so the digest has it."""
    state = example / "STATE" / "current_state.md"
    text = state.read_text(encoding="utf-8")
    text = text.replace(
        "- Catalog service is live;", f"- Catalog service is live {INJECTED};", 1
    )
    state.write_text(text, encoding="utf-8")
    run_cycle(example)
    return example


@pytest.fixture
def dashboard(browser, injected_project: Path):
    with running_service([injected_project]) as (server, _projects):
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on(
            "dialog", lambda dialog: page.errors.append(f"dialog: {dialog.message}")
        )
        yield server.url, page
        page.close()


def test_dashboard_renders_status(dashboard):
    url, page = dashboard
    status = httpx.get(f"{url}/api/v1/status", trust_env=False).json()

    page.goto(url + "/")

    assert page.text_content("#phase") == "Phase 2: Checkout service"
    assert page.text_content("#delta") == status["delta"]
    assert status["next_move"]["action"] in page.text_content("#next-move")
    rows = page.locator("#findings tbody tr")
    assert rows.count() == len(status["findings"])
    first_link = page.locator("#findings tbody tr td:nth-child(2) a").first
    assert first_link.get_attribute("href").startswith("/projects/demo/files/")
    assert page.locator("#egspace-empty").is_visible()
    assert page.locator("#timeline li").count() > 0
    assert "time unknown" not in page.text_content("#timeline")
    assert page.errors == []


def test_dashboard_shows_injected_script_as_text(dashboard):
    url, page = dashboard

    page.goto(url + "/")

    assert INJECTED in page.text_content("#digest-text")
    assert INJECTED in page.text_content("#current")
    assert page.evaluate("window.__vpmInjected") is None
    assert page.locator("script", has_text="__vpmInjected").count() == 0
    assert page.errors == []


def test_dashboard_draws_mermaid_diagram(dashboard):
    url, page = dashboard
    if not MERMAID.is_file():
        pytest.fail(f"{MERMAID} is missing; run `make web` to copy it from npm")

    page.goto(url + "/")
    page.wait_for_selector("#diagram svg", timeout=15_000)

    assert page.get_attribute("#diagram", "data-rendered") == "true"
    assert "flowchart LR" in page.text_content("#diagram-source")
    assert page.errors == []


def test_dashboard_without_mermaid_shows_source(dashboard):
    url, page = dashboard
    page.route("**/static/vendor/mermaid.min.js", lambda route: route.abort())

    page.goto(url + "/")

    assert page.locator("#diagram svg").count() == 0
    assert page.locator("#diagram-source").is_visible()
    assert "flowchart LR" in page.text_content("#diagram-source")
    assert page.text_content("#phase") == "Phase 2: Checkout service"


def test_dashboard_task_form_submits_once(dashboard):
    url, page = dashboard
    page.goto(url + "/")
    page.evaluate(
        """() => {
          const button = document.getElementById("task-submit");
          window.__disabledSeen = false;
          new MutationObserver(() => {
            if (button.disabled) { window.__disabledSeen = true; }
          }).observe(button, { attributes: true });
        }"""
    )

    page.fill("#task-title", "Write the P2-1 health check evidence")
    page.fill("#task-tags", "p2, ops")
    page.select_option("#task-priority", "high")
    page.click("#task-submit")
    expect(page.locator("#task-result")).to_have_text(re.compile("^Stored as"))

    assert page.evaluate("window.__disabledSeen") is True
    assert page.is_enabled("#task-submit")
    assert "Write the P2-1 health check evidence" in page.text_content("#task-list")
    tasks = httpx.get(f"{url}/api/v1/tasks", trust_env=False).json()["tasks"]
    assert [(t["title"], t["priority"], t["tags"]) for t in tasks] == [
        ("Write the P2-1 health check evidence", "high", ["p2", "ops"])
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert page.errors == []


def test_dashboard_task_form_shows_validation_error(dashboard):
    url, page = dashboard
    page.goto(url + "/")

    page.evaluate("document.getElementById('task-title').removeAttribute('required')")
    page.fill("#task-title", "   ")
    page.click("#task-submit")
    expect(page.locator("#task-result")).to_have_text(re.compile("^Not stored"))

    assert page.is_enabled("#task-submit")
    assert httpx.get(f"{url}/api/v1/tasks", trust_env=False).json()["tasks"] == []


def test_dashboard_shows_egspace_movers(dashboard, injected_project: Path):
    url, page = dashboard
    mover = {"kind": "evidence", "source": "reports/slo.md", "line": None, "score": 2}
    report = {
        "delta": 0.2686,
        "closer": [{**mover, "title": f"SLO {INJECTED}"}],
        "farther": [{**mover, "title": "old plan", "score": -1}],
        "daily": [
            {"label": "2026-11-18", "date": "2026-11-18", "delta": 0.4, "items": 3},
            {"label": "2026-11-19", "date": "2026-11-19", "delta": 0.2, "items": 5},
        ],
    }
    reports = injected_project / "reports" / "vpm"
    (reports / "egspace.json").write_text(json.dumps(report), encoding="utf-8")

    page.goto(url + "/")

    assert page.locator("#egspace-empty").count() == 0
    assert page.text_content("#egspace-delta") == "0.269"
    assert f"SLO {INJECTED}" in page.text_content("#egspace")
    assert "old plan" in page.text_content("#egspace")
    assert page.locator("#egspace .bar").count() == 2
    assert page.evaluate("window.__vpmInjected") is None


def test_dashboard_finding_link_opens_cited_line(dashboard):
    url, page = dashboard
    page.goto(url + "/")
    link = page.locator("#findings tbody tr td:nth-child(2) a").first
    href = link.get_attribute("href")

    link.click()
    page.wait_for_url(f"**{href}")

    line = href.rsplit("#L", 1)[1]
    assert page.locator(f"tr#L{line}").is_visible()
    assert page.locator(f"tr#L{line} td.num").text_content() == line


def test_dashboard_copy_is_independent_of_repo(injected_project: Path):
    # The fixture edits a copy; the example in the repository stays clean.
    original = REPO / "examples" / "demo" / "STATE" / "current_state.md"

    assert INJECTED not in original.read_text(encoding="utf-8")
    assert shutil.which("chromium") or CHROMIUM.is_file()
