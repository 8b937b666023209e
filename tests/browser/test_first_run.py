"""A first run on a port other than 6543: ``asthron setup --demo`` then ``asthron serve`` as
scripts/run starts them (ASTHRON_PUBLIC_URL from ASTHRON_PORT), and the demo page's widget
opens in Chromium. The printed links, the demo site's allowed origin and the privacy link all
follow the real address."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.fixtures.cli import ASTHRON, run_asthron, write_ini

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture explains the skip
    if REQUIRE_SERVICES:
        raise
    pytest.skip("Playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(f"asthron serve exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def first_run(tmp_path, browser):
    """setup on one address, then setup and serve on another (a changed ASTHRON_PORT)."""
    ini = write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'asthron.sqlite'}")
    # asthron.demo_page is off by default (production); scripts/run uses development.ini.
    ini.write_text(ini.read_text() + "asthron.demo_page = true\n")
    env = {"ASTHRON_CONFIG": str(ini)}
    earlier = run_asthron(
        "setup", "--demo", env={**env, "ASTHRON_PUBLIC_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert earlier.returncode == 0, earlier.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    setup = run_asthron("setup", "--demo", env={**env, "ASTHRON_PUBLIC_URL": base})
    assert setup.returncode == 0, setup.stderr
    # No --port: `asthron serve` listens on the public address's own port.
    process = subprocess.Popen(
        [str(ASTHRON), "serve"],
        env={**os.environ, **env, "ASTHRON_PUBLIC_URL": base, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(base + "/login", process)
        yield base, setup.stdout
    finally:
        process.terminate()
        process.wait(10)


def test_demo_widget_works_on_a_non_default_port(first_run, open_page):
    base, output = first_run
    assert f"Dashboard: {base}/login" in output
    assert f"Demo page with the widget: {base}/demo" in output
    assert f"allowed {base} on the demo site" in output
    assert "6543" not in output

    page = open_page(base + "/demo")
    p = page.page
    snippet = p.locator("pre.snippet").inner_text()
    assert f'src="{base}/widget.js"' in snippet
    p.locator(".launcher").click()
    expect(p.locator(".launcher")).to_have_attribute("aria-expanded", "true")
    consent = p.locator(".consent")
    expect(consent).to_be_visible()
    # The privacy link is the page Asthron serves at the address in use.
    link = consent.get_by_role("link", name="Privacy policy")
    expect(link).to_have_attribute(
        "href",
        f"{base}/privacy/" + p.evaluate("document.querySelector('script[data-site]').dataset.site"),
    )
    p.get_by_role("button", name="Got it").click()
    box = p.get_by_role("textbox", name="Message")
    box.fill("When are you open?")
    box.press("Enter")
    expect(p.locator(".log .msg:not(.me):not(.prov) .bubble").first).to_be_visible()
    assert not [e for e in page.errors if "origin" in e.lower()], page.errors

    key = p.evaluate("document.querySelector('script[data-site]').dataset.site")
    request = urllib.request.Request(
        f"{base}/api/widget/v1/config?site_key={key}", headers={"Origin": base}
    )
    with urllib.request.urlopen(request) as response:
        config = json.load(response)
        assert response.headers["Access-Control-Allow-Origin"] == base
    assert config["privacy"]["url"] == f"{base}/privacy/{key}"
