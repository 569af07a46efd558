"""Headless Chromium on a Superset dashboard: shared by the dashboard and end-to-end tests.

Debian's chromium, never a downloaded build; every request to another host than the Superset
server is blocked (the front end loads a telemetry pixel).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, Response, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from core.settings import REPO_ROOT, Settings
from govdata.services import superset

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
DASHBOARDS_DIR = superset.ASSETS_DIR / "dashboards"
DASHBOARD_YAML = DASHBOARDS_DIR / "kpi_766.yaml"
#: Each dashboard's topic (its slug is ``<topic>-<province slug>``) and its YAML.
DASHBOARDS = {
    "kpi": "kpi_766.yaml",
    "procedures": "procedures.yaml",
    "documents": "documents.yaml",
    "reports": "reports.yaml",
    "merger": "merger.yaml",
    "data-quality": "data_quality.yaml",
    "national": "national.yaml",
}

# Every chart has rendered (no spinner; a chart, a table row or a big number) or failed; with
# allowEmpty, a chart may also have said it has no rows (a commune user's province charts).
CHARTS_SETTLED = """
([expected, allowEmpty]) => {
  const charts = [...document.querySelectorAll('[data-test-chart-id]')];
  if (charts.length < expected) return false;
  return charts.every((chart) => {
    if (chart.querySelector('[data-test="loading-indicator"], .loading')) return false;
    if (allowEmpty && chart.innerText.includes('No results')) return true;
    return chart.querySelector(
      '.ant-alert-error, [role="alert"], canvas, svg.echarts, tbody tr, .header-line'
    ) !== null;
  });
}
"""


def chart_count(topic: str = "kpi") -> int:
    path = DASHBOARDS_DIR / DASHBOARDS[topic]
    position = yaml.safe_load(path.read_text(encoding="utf-8"))["position"]
    return sum(1 for v in position.values() if isinstance(v, dict) and v["type"] == "CHART")


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except PlaywrightError as error:
            pytest.fail(f"Chromium could not start: {error}")
        yield browser
        browser.close()


def logged_in_page(
    browser: Browser, settings: Settings, username: str | None = None, password: str | None = None
) -> Page:
    """A page logged in through the login form (as the admin unless told); requests to any
    other host are blocked."""
    base = superset.base_url(settings)
    context = browser.new_context(viewport={"width": 1600, "height": 1200}, locale="vi-VN")

    def only_superset(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:  # e.g. the front end's telemetry pixel
            route.abort()

    context.route("**/*", only_superset)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#username", username or settings.superset_admin_user)
    page.fill("#password", password or settings.superset_admin_password)
    page.keyboard.press("Enter")
    # The first login after start-up can take a while on a busy 2-core machine.
    page.wait_for_url(lambda url: "/login" not in url, timeout=90_000)
    return page


def open_dashboard(
    page: Page,
    settings: Settings,
    topic: str = "kpi",
    chart_data: list[dict[str, Any]] | None = None,
    allow_empty: bool = False,
) -> list[dict[str, object]]:
    """Open a dashboard, wait until every chart settled, describe each chart.

    With ``chart_data``, the answers of the chart-data API to the page are appended to it
    (status, and the JSON body's queries), to check that each query succeeded with rows.
    """
    responses: list[Response] = []

    def keep(response: Response) -> None:
        if "/api/v1/chart/data" in response.url:
            responses.append(response)

    page.on("response", keep)
    try:
        page.goto(superset.dashboard_url(settings, settings.profile.dashboard_slug(topic)))
        page.wait_for_function(
            CHARTS_SETTLED, arg=[chart_count(topic), allow_empty], timeout=120_000
        )
        page.wait_for_timeout(2_000)  # let the charts' entry animations end (for the screenshot)
    finally:
        page.remove_listener("response", keep)
    if chart_data is not None:
        for response in responses:
            try:
                body = response.json()
            except (PlaywrightError, ValueError):
                body = {"text": response.text()[:500]}
            chart_data.append({"status": response.status, "url": response.url, "body": body})
    return page.locator("[data-test-chart-id]").evaluate_all(
        """(charts) => charts.map((chart) => ({
          id: chart.getAttribute('data-test-chart-id'),
          viz: chart.getAttribute('data-test-viz-type'),
          title: (chart.querySelector('[data-test="editable-title"]') || {}).innerText || '',
          errors: [...chart.querySelectorAll('.ant-alert-error, [role="alert"]')]
            .map((e) => e.innerText),
          graphics: chart.querySelectorAll('canvas, svg.echarts, [_echarts_instance_]').length,
          rows: [...chart.querySelectorAll('tbody tr')].map((tr) => tr.innerText),
          bigNumber: (chart.querySelector('.header-line') || {}).innerText || '',
        }))"""
    )


# --- the Airflow UI ---------------------------------------------------------------------------


def airflow_page(browser: Browser, settings: Settings) -> Page:
    """A page logged into the Airflow UI through its login form (simple auth manager)."""
    from govdata.services import airflow

    base = airflow.base_url(settings)
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(f"{base}/")
    page.fill("input[name=username]", settings.airflow_admin_user)
    page.fill("input[name=password]", settings.airflow_admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
    return page


def airflow_dags_whose_last_run(page: Page, settings: Settings, state: str) -> list[str]:
    """The DAGs the UI's list shows under its "Last run" filter set to ``state``."""
    from govdata.services import airflow

    page.goto(f"{airflow.base_url(settings)}/dags?last_dag_run_state={state}")
    page.wait_for_load_state("networkidle")
    page.get_by_text("Dags", exact=False).first.wait_for()
    page.wait_for_timeout(1500)  # the list renders after its query answers
    links = page.locator("a[href^='/dags/']").all_inner_texts()
    return sorted({text.strip() for text in links if text.strip().startswith("govdata_")})
