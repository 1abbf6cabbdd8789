"""The dashboard in a real headless Chromium: log in with a key, see charts with data."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import hashwall

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def register_and_check(server: str, staff: str, platform: str) -> None:
    """Register one ncii and one deepfake hash, then check the first 3 times, the
    second twice and 4 unknown hashes: 9 checks, 5 blocks."""
    codes = {category: secrets.token_hex(32) for category in ("ncii", "deepfake")}
    with httpx.Client(base_url=server, timeout=30) as http:
        for category, code in codes.items():
            made = http.post(
                "/register",
                json={"hashes": {"pdq": [code]}, "category": category, "case_ref": f"K-{category}"},
                headers={"Authorization": f"Bearer {staff}"},
            )
            assert made.status_code == 201
        plan = [codes["ncii"]] * 3 + [codes["deepfake"]] * 2 + [secrets.token_hex(32)] * 4
        for code in plan:
            http.post(
                "/check/hashes",
                json={"hashes": {"pdq": [code]}},
                headers={"Authorization": f"Bearer {platform}"},
            )


def test_dashboard_logs_in_and_charts_matches(
    env: dict[str, str], server: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    staff = hashwall(env, "keys", "create", "--name", "ts", "--scopes", "register").stdout.strip()
    platform = hashwall(env, "keys", "create", "--name", "web", "--scopes", "check").stdout.strip()
    ops = hashwall(env, "keys", "create", "--name", "ops", "--scopes", "export_all").stdout.strip()
    register_and_check(server, staff, platform)

    # localhost is a secure context, so the Secure cookie is kept over plain HTTP.
    url = server.replace("127.0.0.1", "localhost")
    browser.get(f"{url}/dashboard")
    assert browser.current_url.endswith("/dashboard/login")
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,))
    browser.find_element(By.ID, "key").send_keys("hw_not_a_real_key")
    browser.find_element(By.ID, "sign-in").click()
    refused = wait.until(lambda d: d.find_elements(By.CLASS_NAME, "error"))
    assert "lacks the export scope" in refused[0].text
    browser.find_element(By.ID, "key").send_keys(ops)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-charts-ready") == "true"
    )
    assert browser.current_url.endswith("/dashboard")
    assert ops not in browser.current_url
    # The chart was drawn from data: per category, the matches of the checks above.
    per_category = browser.execute_script(
        "const c = window.hashwallCharts.matches;"
        "return Object.fromEntries(c.data.datasets.map("
        "  d => [d.label, d.data.reduce((a, b) => a + b, 0)]));"
    )
    assert per_category == {"deepfake": 2, "ncii": 3}
    blocked = browser.execute_script(
        "return window.hashwallCharts.decisions.data.datasets[0].data.reduce((a, b) => a + b, 0);"
    )
    assert blocked == 5
    assert browser.find_element(By.ID, "total-checks").text == "9"
    rows = browser.find_elements(By.CSS_SELECTOR, "#top-items tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == ["K-ncii", "K-deepfake"]
    # The browser holds a session id, never the key, in an HttpOnly cookie.
    assert ops not in browser.execute_script("return document.cookie;")
    cookie = browser.get_cookie("hashwall_dashboard")
    assert cookie is not None
    assert ops not in cookie["value"]
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    screenshot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
