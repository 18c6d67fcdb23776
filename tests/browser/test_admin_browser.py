"""The admin in a real browser: headless Chromium logs in, opens the dashboard and a run.

Screenshots go to ``test-artifacts/`` (git-ignored). The test fails if a chart is
missing or empty, or if a page logs a JavaScript error or fails to load a resource.
Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver "
        "(apt-get install chromium chromium-driver)",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    # A busy machine may render slowly: element look-ups wait for them to appear.
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def trained_runs(synthetic_ratings, fast_params) -> list[ModelRun]:
    """Two small runs, so that the trend charts have a line to draw."""
    runs = []
    for _ in range(2):
        run = model_run_create(triggered_by="test", params=fast_params)
        runs.append(model_run_execute(run_id=run.id, force=True))
    return runs


def wait_for_url(driver, url: str) -> None:
    """Clicking a link returns before the next page has loaded."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(expected_conditions.url_to_be(url))


def full_page(driver) -> None:
    """Size the window to the whole page, so a screenshot shows everything."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 1000) + 120, 8000))


def problems(driver) -> list[str]:
    """JavaScript errors and failed loads the page logged (the favicon is not ours)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def check_charts(driver, expected: int) -> None:
    from selenium.webdriver.common.by import By

    svgs = driver.find_elements(By.CSS_SELECTOR, ".videorec-chart svg")
    assert len(svgs) == expected
    for svg in svgs:
        box = driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", svg
        )
        assert box[0] > 400 and box[1] > 200, box
        title = svg.find_element(By.CSS_SELECTOR, "text.plot_title").text
        assert title
        shapes = svg.find_elements(By.CSS_SELECTOR, "g.series rect, g.series path")
        assert shapes, f"chart {title!r} draws nothing"


def test_dashboard_and_run_page_in_chromium(
    live_server, browser, trained_runs, django_user_model
) -> None:
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("ops", "ops@example.com", "secret-pw")
    ARTIFACTS.mkdir(exist_ok=True)

    browser.get(live_server.url + reverse("admin:login"))
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys("secret-pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_url(browser, live_server.url + reverse("admin:index"))
    assert browser.find_element(By.ID, "videorec-dashboard-link")
    assert problems(browser) == []

    browser.find_element(By.LINK_TEXT, "Dashboard").click()
    wait_for_url(browser, live_server.url + reverse("admin-dashboard"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dashboard"
    full_page(browser)
    browser.save_screenshot(str(ARTIFACTS / "admin-dashboard.png"))
    check_charts(browser, expected=4)
    assert "Run #" in browser.find_element(By.ID, "panel-active").text
    assert problems(browser) == []

    run = trained_runs[-1]
    browser.get(live_server.url + reverse("admin:recommender_modelrun_change", args=[run.pk]))
    full_page(browser)
    browser.save_screenshot(str(ARTIFACTS / "admin-model-run.png"))
    check_charts(browser, expected=1)
    assert "Ranker feature importances" in browser.page_source
    assert problems(browser) == []

    # The inspector and the comparison: no charts, but they must load cleanly too.
    first = trained_runs[0]
    compare = reverse("admin:recommender_modelrun_compare") + f"?ids={first.pk},{run.pk}"
    pages = [
        ("admin-viewer-inspector.png", reverse("admin:ingestion_viewer_change", args=[7]),
         "Current recommendations"),
        ("admin-movie-inspector.png", reverse("admin:ingestion_movie_change", args=[1]),
         "Nearest neighbors (active model)"),
        ("admin-compare-runs.png", compare, "Metrics: system"),
    ]  # fmt: skip
    for name, url, text in pages:
        browser.get(live_server.url + url)
        full_page(browser)
        browser.save_screenshot(str(ARTIFACTS / name))
        assert text in browser.find_element(By.ID, "content").text
        assert problems(browser) == []
