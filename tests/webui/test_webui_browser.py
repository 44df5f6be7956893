"""The real Raiden WebUI 1.2.1 in headless Chromium against the hosted processes.

gunicorn, a Celery worker and Celery beat run as in production on the test database and the
test chain. Two co-hosted nodes have a channel with deposits on both sides. The browser opens
/ui/, waits for the channel to show up (the partner's address), sends a payment through the
UI's Transfer dialog and sees it in the UI's history; the server's books have the payment as
succeeded. Once with RAIDEN_AUTH off (the default node at /api/v1), once with it on (signing in
at /accounts/login/ as the node's owner; the UI then uses /nodes/<address>/api/v1 with the
session, and the payment's POST passes the CSRF check with Angular's X-XSRF-TOKEN header).

Needs the Debian packages chromium and chromium-driver; skipped without them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from raidennode.nodes.models import Node
from raidennode.nodes.tokens import api_token_create
from raidennode.webui.views import ui_root
from tests.hosted import HostedProcesses
from tests.payments.conftest import wait_until
from transfers_app.models import Payment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - selenium is in requirements-dev.txt
    webdriver = None

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the hosted processes need Redis"),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="headless Chromium is not installed (apt-get install -y chromium chromium-driver)",
    ),
    pytest.mark.skipif(webdriver is None, reason="selenium is not installed (requirements-dev.txt)"),
    pytest.mark.skipif(ui_root() is None, reason="raiden-webui is not installed (requirements.txt)"),
]

DEPOSIT = 1000
AMOUNT = 37  # raw units; the test token has 18 decimals, so the UI shows 0.000000000000000037
SCREENSHOTS = Path(os.environ.get("WEBUI_SCREENSHOTS", "/tmp"))


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _channel_with_deposits(server: HostedProcesses, alice, bob, token: str) -> None:
    """alice opens a channel with bob, both deposit (over REST, with API tokens)."""
    alice_key, bob_key = api_token_create(alice)[1], api_token_create(bob)[1]
    opened = requests.put(
        f"{server.api(alice)}/channels",
        json={"token_address": token, "partner_address": bob.address, "total_deposit": str(DEPOSIT)},
        headers={"Authorization": f"Token {alice_key}"},
        timeout=120,
    )
    assert opened.status_code == 201, opened.text
    deposited = requests.patch(
        f"{server.api(bob)}/channels/{token}/{alice.address}",
        json={"total_deposit": str(DEPOSIT)},
        headers={"Authorization": f"Token {bob_key}"},
        timeout=120,
    )
    assert deposited.status_code == 200, deposited.text


def _shot(driver, name: str) -> Path:
    path = SCREENSHOTS / f"webui-{name}.png"
    try:
        driver.save_screenshot(str(path))
    except WebDriverException:
        pass
    return path


def _tooltip_texts(driver) -> list[str]:
    """The texts of Material tooltips (also of those not hovered: cdk keeps them for a11y)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('[id^=cdk-describedby-message-]'))"
        ".map(e => e.textContent.trim().split(/\\s+/)[0]);"
    )


def _log_in(driver, server: HostedProcesses, username: str, password: str) -> None:
    driver.get(f"{server.url}/ui/")
    wait = WebDriverWait(driver, 30)
    wait.until(expected_conditions.url_contains("/accounts/login/"))
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(expected_conditions.url_contains("/ui/"))
    # Angular's HttpClientXsrfModule reads this cookie and sends it back as X-XSRF-TOKEN
    assert driver.get_cookie("XSRF-TOKEN") is not None


def _browser_config(driver) -> dict:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/ui/assets/config/config.production.json').then(r => r.json()).then(done);"
    )


def _see_channel(driver, partner: str) -> None:
    """The channels page lists the channel: hovering its identicon shows the partner's address."""
    driver.find_element(By.CSS_SELECTOR, "a[href='/ui/channels']").click()
    wait = WebDriverWait(driver, 60)
    identicon = wait.until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "app-channel img.container__identicon"))
    )
    ActionChains(driver).move_to_element(identicon).perform()
    wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, ".mat-tooltip"), partner))
    # the channel's balance: our deposit of 1000 raw units of an 18-decimals token
    wait.until(lambda d: "0.000000000000001" in _tooltip_texts(d))


def _pay(driver, token: str, partner: str, amount: str) -> None:
    """Home -> Transfer: token network, receiver and amount, then Send."""
    wait = WebDriverWait(driver, 60)
    driver.find_element(By.CSS_SELECTOR, "a[href='/ui/home']").click()
    wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "app-token #transfer"))).click()
    dialog = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "app-payment-dialog")))
    dialog.find_element(By.CSS_SELECTOR, "app-token-network-selector mat-select").click()
    option = wait.until(
        expected_conditions.element_to_be_clickable(
            (By.XPATH, f"//mat-option[contains(normalize-space(.), '{token}')]")
        )
    )
    option.click()
    dialog.find_element(By.CSS_SELECTOR, "app-address-input input").send_keys(partner)
    dialog.find_element(By.CSS_SELECTOR, "app-token-input input").send_keys(amount)
    send = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "app-payment-dialog #accept")))
    send.click()
    wait.until(expected_conditions.invisibility_of_element_located((By.CSS_SELECTOR, "app-payment-dialog")))


def _see_in_history(driver, partner: str, amount: str) -> None:
    """The home page's transfer history: "Sent to <partner>", confirmed, with the amount."""
    WebDriverWait(driver, 60).until(
        lambda d: (
            any(
                f"Sent to {partner}" in " ".join(row.text.split()) and "CONFIRMED" in row.text.upper()
                for row in d.find_elements(By.CSS_SELECTOR, "app-history-table cdk-row")
            )
            and amount in _tooltip_texts(d)
        )
    )


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_webui_shows_the_channel_and_pays(chain_env, make_node, tmp_path, browser, auth):
    alice, bob = make_node(name="alice"), make_node(name="bob")  # alice: the oldest, the default node
    if auth:
        owner = get_user_model().objects.create_user("alice-owner", password="alice-pw")
        Node.objects.filter(pk=alice.pk).update(owner=owner)
        get_user_model().objects.create_user("bob-owner", password="bob-pw")
    server = HostedProcesses(
        chain_env,
        tmp_path,
        name="webui",
        RAIDEN_AUTH="on" if auth else "off",
        RAIDEN_DEFAULT_SETTLE_TIMEOUT="20",
        RAIDEN_DEFAULT_REVEAL_TIMEOUT="5",
    )
    name = f"auth-{'on' if auth else 'off'}"
    try:
        server.start_worker()
        server.start_beat()
        server.start_web(threads=8)
        _channel_with_deposits(server, alice, bob, chain_env.token)
        if auth:
            _log_in(browser, server, "alice-owner", "alice-pw")
        else:
            browser.get(f"{server.url}/ui/")
        expected_api = f"/nodes/{alice.address}/api/v1" if auth else "/api/v1"
        assert _browser_config(browser)["raiden"] == expected_api
        WebDriverWait(browser, 60).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "app-header"), alice.address)
        )
        _see_channel(browser, bob.address)
        _shot(browser, f"{name}-channels")

        _pay(browser, chain_env.token, bob.address, f"0.{AMOUNT:018d}")
        wait_until(
            lambda: Payment.objects.filter(
                node=alice, role="initiator", target=bob.address, amount=AMOUNT, status="succeeded"
            ).exists(),
            "alice's payment to succeed",
            60,
        )
        assert Payment.objects.filter(node=alice, role="initiator").count() == 1
        wait_until(
            lambda: Payment.objects.filter(node=bob, role="target", amount=AMOUNT, status="succeeded").exists(),
            "bob to receive the payment",
            60,
        )
        _see_in_history(browser, bob.address, f"0.{AMOUNT:018d}")
        _shot(browser, f"{name}-paid")
        # no failed request (API, /web3, files) and no script error on the way
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe
        channel = requests.get(
            f"{server.api(alice)}/channels/{chain_env.token}/{bob.address}",
            headers={"Authorization": f"Token {api_token_create(alice)[1]}"},
            timeout=10,
        ).json()
        assert int(channel["balance"]) == DEPOSIT - AMOUNT
    except (AssertionError, TimeoutException, WebDriverException) as exc:
        shot = _shot(browser, f"{name}-failure")
        console = "\n".join(str(entry) for entry in browser.get_log("browser")[-30:])
        raise AssertionError(
            f"{exc!r}\nscreenshot: {shot}\nurl: {browser.current_url}\nconsole:\n{console}\n"
            f"web log:\n{server.log('web')}\nworker log:\n{server.log('worker')}"
        ) from exc
    finally:
        server.stop()
