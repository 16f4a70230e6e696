"""The dashboard in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
Selenium), against real user and compute APIs over HTTP on a real Neo4j and object store.

Logs in through the form, reads a network's Task status counts and checks them against the API's,
sees a count change without a page reload, and follows a failed Task's link to its traceback.
Screenshots are saved under the test's tmp dir (the paths are printed). ``devtools/install-system.sh``
installs the browser.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from alchemiscale.compute.client import AlchemiscaleComputeClient
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.models import Scope
from alchemiscale.security.models import CredentialedComputeIdentity, CredentialedUserIdentity
from alchemiscale.tests.protocols import FAILURE_MESSAGE

from ..identities import make_identity
from ..servers import running_uvicorn
from .dashboard_world import dashboard_network, populate_through_apis

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1000",
)
IMPORT_GUARD_DIR = Path(__file__).parents[1] / "compute" / "import_guard"
WAIT_SECONDS = 15


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is not installed: run devtools/install-system.sh (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def servers(neo4j_server, tmp_path):
    """A user API and a compute API sharing a signing key, an object store folder and the import guard."""
    guard_log = tmp_path / "import-guard.log"
    env = {
        "NEO4J_URL": neo4j_server.url, "NEO4J_USER": neo4j_server.user, "NEO4J_PASS": neo4j_server.password,
        "NEO4J_DBNAME": neo4j_server.dbname, "JWT_SECRET_KEY": secrets.token_hex(32),
        "ALCHEMISCALE_OBJECT_STORE": "local", "ALCHEMISCALE_LOCAL_OBJECT_STORE_ROOT": str(tmp_path / "objects"),
        "ALCHEMISCALE_IMPORT_GUARD_LOG": str(guard_log), "PYTHONPATH": str(IMPORT_GUARD_DIR),
    }
    with running_uvicorn("alchemiscale.interface.api:app", env, log_path=tmp_path / "user-api.log") as user_url:
        with running_uvicorn("alchemiscale.compute.api:app", env, log_path=tmp_path / "compute-api.log") as compute_url:
            yield user_url, compute_url
    assert guard_log.exists() and guard_log.read_text() == "", guard_log.read_text()


def wait_for(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(lambda d: condition(d), message=what)


def counts_shown(driver, row_selector: str) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"{row_selector} td[data-status]")
    return {cell.get_attribute("data-status"): int(cell.text) for cell in cells if cell.text != "0"}


def test_dashboard_in_chromium(browser, servers, n4js, ligands, solvent, tmp_path):
    from selenium.webdriver.common.by import By

    user_url, compute_url = servers
    scope = Scope("dashorg", "dashcampaign", f"p{uuid.uuid4().hex[:12]}")
    user_id, compute_id = f"dash_{uuid.uuid4().hex[:8]}", f"dashcompute_{uuid.uuid4().hex[:8]}"
    user_key = make_identity(n4js, CredentialedUserIdentity, user_id, [str(scope)])
    compute_key = make_identity(n4js, CredentialedComputeIdentity, compute_id, [str(scope)])
    with (
        AlchemiscaleClient(user_url, user_id, user_key, use_local_cache=False, max_retries=1) as user,
        AlchemiscaleComputeClient(compute_url, compute_id, compute_key, use_local_cache=False, max_retries=1) as compute,
    ):
        network, service, tasks = populate_through_apis(
            user, compute, dashboard_network(ligands, solvent), scope, tmp_path / "work"
        )
        expected = user.get_network_status(network)
        assert expected == {"complete": 3, "error": 1, "waiting": 1}, expected

        # log in through the form; the dashboard sends a browser without its cookie there first
        browser.get(f"{user_url}/dashboard/")
        wait_for(browser, lambda d: d.current_url.endswith("/dashboard/login"), "redirect to the login form")
        browser.find_element(By.ID, "identifier").send_keys(user_id)
        browser.find_element(By.ID, "key").send_keys(user_key)
        browser.find_element(By.ID, "login").click()
        row = f'tr[data-network="{network}"]'
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the network on the overview")
        assert counts_shown(browser, row) == expected
        assert browser.get_cookie("alchemiscale_dashboard")["httpOnly"] is True

        # the page refreshes itself: a new Task shows up without a reload
        browser.execute_script("window.notReloaded = true")
        user.create_tasks(user.get_network_transformations(network)[1])
        wait_for(browser, lambda d: counts_shown(d, row).get("waiting") == 2, "the new Task counted without reload")
        assert browser.execute_script("return window.notReloaded") is True
        overview_png = tmp_path / "dashboard-overview.png"
        browser.save_screenshot(str(overview_png))
        print(f"\ndashboard overview screenshot: {overview_png}")

        browser.find_element(By.CSS_SELECTOR, f'{row} a[href$="{network}"]').click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "svg.plot .bar"), "the ΔG plot")
        assert counts_shown(browser, "table.counts") == {**expected, "waiting": 2}
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.plot .bar")) == 3  # the three Transformations with estimates
        network_png = tmp_path / "dashboard-network.png"
        browser.save_screenshot(str(network_png))
        print(f"dashboard network screenshot: {network_png}")

        failed_task = next(t for t, status in zip(tasks, user.get_tasks_status(tasks)) if status == "error")
        browser.find_element(By.CSS_SELECTOR, f'a.failure-link[href*="{failed_task}"]').click()
        traceback = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "pre.traceback"), "the traceback")[0]
        assert FAILURE_MESSAGE in traceback.text and "RuntimeError" in traceback.text
        failure_png = tmp_path / "dashboard-failure.png"
        browser.save_screenshot(str(failure_png))
        print(f"dashboard failure screenshot: {failure_png}")

        # compute services with their last heartbeat
        browser.find_element(By.LINK_TEXT, "Compute").click()
        wait_for(browser, lambda d: str(service) in d.find_element(By.CSS_SELECTOR, "table.services").text, "the service")
        compute_png = tmp_path / "dashboard-compute.png"
        browser.save_screenshot(str(compute_png))
        print(f"dashboard compute screenshot: {compute_png}")
