"""Login: throttling per account and per IP, device cookies, no account enumeration."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from asthron.accounts.models import LoginFailure
from asthron.audit.models import AuditEntry
from tests.conftest import csrf_from
from tests.security.support import client

PER_ACCOUNT, PER_IP = 3, 5


@pytest.fixture
def ini_settings(ini_settings):
    ini_settings["asthron.login.max_failures_per_account"] = str(PER_ACCOUNT)
    ini_settings["asthron.login.max_failures_per_ip"] = str(PER_IP)
    return ini_settings


def attempt(browser, email: str, password: str):
    page = browser.get("/login")
    return browser.post(
        "/login", {"email": email, "password": password, "csrf_token": csrf_from(page)}, status="*"
    )


def logout(browser):
    browser.post("/logout", {"csrf_token": csrf_from(browser.get("/"))}, status=303)


def page_body(response, email: str) -> str:
    """The response with what legitimately differs (the typed email, the token) removed."""
    text = response.text.replace(email, "EMAIL")
    return re.sub(r'name="csrf_token" value="[^"]+"', "", text)


def test_unknown_and_known_emails_fail_and_throttle_alike(app, make_user):
    known = make_user("staff")
    unknown = "nobody-here@example.com"
    results = {}
    for label, email in (("known", known["email"]), ("unknown", unknown)):
        responses = []
        # Each attempt from a new address, so only the per-account limit is in play.
        for n in range(PER_ACCOUNT + 1):
            responses.append(attempt(client(app, f"198.51.100.{n + 1}"), email, "wrong-Pass-1!"))
        results[label] = responses
    for known_response, unknown_response in zip(results["known"], results["unknown"], strict=True):
        assert known_response.status_int == unknown_response.status_int
        assert page_body(known_response, known["email"]) == page_body(unknown_response, unknown)
    statuses = [r.status_int for r in results["known"]]
    assert statuses == [400] * PER_ACCOUNT + [429]
    assert "Email or password is incorrect." in results["known"][0].text
    assert "Too many failed attempts" in results["known"][-1].text
    # Throttled means throttled: even the right password is refused now, from a new address.
    right = attempt(client(app, "198.51.100.99"), known["email"], known["password"])
    assert right.status_int == 429
    assert "asthron_session" not in right.headers.get("Set-Cookie", "")


def test_the_real_user_is_not_locked_out_by_an_attacker(app, make_user):
    user = make_user("staff")
    own_browser = client(app, "203.0.113.5")
    assert attempt(own_browser, user["email"], user["password"]).status_int == 303
    logout(own_browser)
    assert own_browser.cookies.get("asthron_device")

    for n in range(PER_ACCOUNT + 2):
        attacker = client(app, f"198.51.100.{n + 1}")
        attempt(attacker, user["email"], f"guess-{n}-Xy!")
    assert attempt(client(app, "198.51.100.50"), user["email"], user["password"]).status_int == 429

    # The browser where this account logged in before carries a device cookie that the
    # per-account limit does not apply to.
    response = attempt(own_browser, user["email"], user["password"])
    assert response.status_int == 303
    assert own_browser.get("/", status=200)


def test_a_device_cookie_only_vouches_for_its_own_account(app, make_user):
    victim, other = make_user("staff"), make_user("staff")
    browser = client(app, "203.0.113.6")
    assert attempt(browser, other["email"], other["password"]).status_int == 303
    logout(browser)
    for n in range(PER_ACCOUNT):
        attempt(client(app, f"198.51.100.{n + 1}"), victim["email"], "wrong-Pass-1!")
    # The cookie was issued for another account: the victim's limit still applies here.
    assert attempt(browser, victim["email"], victim["password"]).status_int == 429
    # A forged cookie is worthless too.
    browser.set_cookie("asthron_device", "9999999999.deadbeef")
    assert attempt(browser, victim["email"], victim["password"]).status_int == 429


def test_per_ip_limit_spans_accounts_and_other_addresses_still_work(app, make_user):
    user = make_user("staff")
    noisy = client(app, "198.51.100.77")
    for n in range(PER_IP):
        assert attempt(noisy, f"someone-{n}@example.com", "wrong-Pass-1!").status_int == 400
    assert attempt(noisy, f"fresh-{PER_IP}@example.com", "wrong-Pass-1!").status_int == 429
    assert attempt(noisy, user["email"], user["password"]).status_int == 429
    assert attempt(client(app, "198.51.100.78"), user["email"], user["password"]).status_int == 303


def test_a_device_cookie_gets_past_the_limit_of_a_shared_address(app, make_user):
    """One office behind one NAT address: a stranger's failures must not lock the team out."""
    member, colleague = make_user("staff"), make_user("staff")
    office = "198.51.100.90"
    member_browser = client(app, office)
    assert attempt(member_browser, member["email"], member["password"]).status_int == 303
    logout(member_browser)

    noisy = client(app, office)
    for n in range(PER_IP):
        attempt(noisy, f"someone-{n}@example.com", "wrong-Pass-1!")
    assert attempt(noisy, colleague["email"], colleague["password"]).status_int == 429

    # The browser that logged in as this member before is let through...
    assert attempt(member_browser, member["email"], member["password"]).status_int == 303
    logout(member_browser)
    # ...for that member only: its cookie does not vouch for another account.
    assert attempt(member_browser, colleague["email"], colleague["password"]).status_int == 429


def test_failures_older_than_the_window_no_longer_count(app, make_user, run_in_tm):
    user = make_user("staff")
    for n in range(PER_ACCOUNT):
        attempt(client(app, f"198.51.100.{n + 1}"), user["email"], "wrong-Pass-1!")
    assert attempt(client(app, "198.51.100.60"), user["email"], user["password"]).status_int == 429

    window = app.registry["app_settings"].login_failure_window

    def age(db):
        db.execute(
            sa.update(LoginFailure).values(
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window + 1)
            )
        )

    run_in_tm(age)
    assert attempt(client(app, "198.51.100.61"), user["email"], user["password"]).status_int == 303


def test_login_outcomes_are_audited_without_the_password(app, make_user, run_in_tm):
    user = make_user("staff")
    browser = client(app, "198.51.100.33")
    attempt(browser, user["email"], "wrong-Guess-42!")
    attempt(browser, "ghost@example.com", "wrong-Guess-43!")
    attempt(browser, user["email"], user["password"])

    def entries(db):
        rows = db.scalars(
            sa.select(AuditEntry).where(AuditEntry.action.like("login.%")).order_by(AuditEntry.id)
        )
        return [(e.action, e.actor_label, e.ip_address, repr(e.summary)) for e in rows]

    rows = run_in_tm(entries)
    assert [(a, label, ip) for a, label, ip, _ in rows] == [
        ("login.failed", user["email"], "198.51.100.33"),
        ("login.failed", "anonymous", "198.51.100.33"),
        ("login.success", user["email"], "198.51.100.33"),
    ]
    text = repr(rows)
    for secret in ("wrong-Guess-42!", "wrong-Guess-43!", user["password"]):
        assert secret not in text
    # The unknown email is not even recorded (it may be a mistyped password).
    assert "ghost@example.com" not in text


def test_inactive_users_cannot_log_in_and_get_the_same_answer(app, make_user, run_in_tm):
    from asthron.accounts.models import User

    user = make_user("staff")

    def deactivate(db):
        db.get(User, user["id"]).is_active = False

    run_in_tm(deactivate)
    inactive = attempt(client(app, "198.51.100.40"), user["email"], user["password"])
    unknown = attempt(client(app, "198.51.100.41"), "nobody@example.com", user["password"])
    assert inactive.status_int == unknown.status_int == 400
    assert page_body(inactive, user["email"]) == page_body(unknown, "nobody@example.com")


@pytest.mark.parametrize(
    "next_url,expected",
    [
        ("/team", "http://localhost/team"),
        ("https://evil.example/", "http://localhost/"),
        ("//evil.example/", "http://localhost/"),
        ("/\\evil.example", "http://localhost/"),
        ("/inbox?status=open&q=a%20b", "http://localhost/inbox?status=open&q=a%20b"),
        # Control characters: CR LF made a 500, a vertical tab went raw into Location.
        ("/\r\nX", "http://localhost/"),
        ("/\r\nSet-Cookie: a=b", "http://localhost/"),
        ("/\x0b/evil", "http://localhost/"),
        ("/\t/evil.example", "http://localhost/"),
        ("/\x1b]0;x\x07", "http://localhost/"),
        ("/ evil", "http://localhost/"),
        ("/\u2028x", "http://localhost/"),
        ("/caf\u00e9", "http://localhost/"),
        ("javascript:alert(1)", "http://localhost/"),
        ("", "http://localhost/"),
    ],
)
def test_login_only_follows_local_next_urls(app, make_user, next_url, expected):
    user = make_user("owner")
    browser = client(app)
    page = browser.get("/login", {"next": next_url})
    response = browser.post(
        "/login",
        {
            "email": user["email"],
            "password": user["password"],
            "next": next_url,
            "csrf_token": csrf_from(page),
        },
        status=303,
    )
    assert response.headers["Location"] == expected
