"""End to end in a real browser: `tagger serve` as a subprocess on a free port, headless Chromium (Debian's,
driven by Selenium through Debian's chromium-driver; nothing is downloaded) logs in, approves one LF and
rejects another with reasons; the store files and `tagger lf list` agree. Skips without a browser, unless
TAGGER_REQUIRE_BROWSER=1 (.ci/run sets it), where a missing browser fails the test."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.test_web import PASSWORDS, build_site

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = [os.environ.get("TAGGER_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser"]
DRIVER = [os.environ.get("TAGGER_CHROMEDRIVER", ""), "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]


def _first(paths):
    return next((p for p in paths if p and Path(p).is_file() and os.access(p, os.X_OK)), None)


def _missing(why: str):
    if os.environ.get("TAGGER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TAGGER_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(f"{why} (apt-get install chromium chromium-driver; TAGGER_REQUIRE_BROWSER=1 makes this an error)")


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[web]')")
    chromium, driver = _first(CHROMIUM), _first(DRIVER)
    if chromium is None or driver is None:
        _missing(f"no Chromium ({chromium}) or chromedriver ({driver}) found")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver or a browser
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync"):
        opts.add_argument(a)
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tagger(*args, **kw):
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"}, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    site = build_site(tmp_path_factory.mktemp("browser"))
    port = _free_port()
    log = open(site["out"] / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "tagger.cli", "serve", "--store", str(site["store"]), "--runs",
                             str(site["runs"]), "--config", str(site["config"]), "--users", str(site["users"]),
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("tagger serve did not start:\n" + (site["out"] / "serve.log").read_text()[-3000:])
            time.sleep(0.3)
    yield {**site, "base": base}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_review_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    base, store = server["base"], server["store"]
    browser.get(base + "/queue")  # not logged in: sent to the login page
    wait.until(EC.presence_of_element_located((By.ID, "username")))
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys("ana")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["ana"])
    browser.find_element(By.ID, "login").click()
    wait.until(EC.presence_of_element_located((By.ID, "queue")))
    assert "kw:stolen" in browser.page_source and "ana (reviewer)" in browser.page_source
    assert browser.save_screenshot(str(tmp_path / "queue.png"))
    if os.environ.get("TAGGER_UPDATE_SCREENSHOTS") == "1":  # refresh the README's screenshot on purpose only
        shutil.copyfile(tmp_path / "queue.png", ROOT / "docs" / "web-queue.png")

    def review(lf_id, action, reason, status):
        browser.find_element(By.LINK_TEXT, lf_id).click()
        wait.until(EC.presence_of_element_located((By.ID, f"do-{action}")))
        browser.find_element(By.ID, f"reason-{action}").send_keys(reason)
        browser.find_element(By.ID, f"do-{action}").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "lf-status"), status))
        assert reason in browser.find_element(By.ID, "history").text

    review("kw:stolen", "approve", "precise on gold_dev", "active")
    assert "Right on gold_dev" in browser.page_source  # the sample hits are on the page
    browser.find_element(By.LINK_TEXT, "Queue").click()
    wait.until(EC.presence_of_element_located((By.ID, "queue")))
    assert "kw:stolen" not in browser.find_element(By.ID, "queue").text  # no longer proposed
    review("kw:bad", "reject", "fires on every card ticket", "rejected")
    assert browser.save_screenshot(str(tmp_path / "rejected.png"))
    assert (tmp_path / "queue.png").stat().st_size > 5000

    # the store files changed, with who and why; the CLI sees the same
    lfs = {x["id"]: x for f in store.glob("*.yaml") for x in yaml.safe_load(f.read_text())["lfs"]}
    assert lfs["kw:stolen"]["status"] == "active" and lfs["kw:bad"]["status"] == "rejected"
    h = lfs["kw:bad"]["provenance"]["history"][-1]
    assert h["by"] == "web:ana" and h["reason"] == "fires on every card ticket"
    active = tagger("lf", "list", "--store", str(store), "--status", "active")
    rejected = tagger("lf", "list", "--store", str(store), "--status", "rejected")
    assert active.returncode == 0 and "kw:stolen" in active.stdout and "kw:bad" not in active.stdout
    assert "kw:bad" in rejected.stdout and "1 LFs" in rejected.stdout
    # a change from the CLI shows in the browser at the next page load
    assert tagger("lf", "approve", "kw:fee", "--store", str(store), "--reason", "cli says yes", "--by", "bob").returncode == 0
    browser.get(base + "/lf/kw%3Afee")
    wait.until(EC.text_to_be_present_in_element((By.ID, "lf-status"), "active"))
    assert "cli says yes" in browser.find_element(By.ID, "history").text
