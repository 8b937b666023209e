"""The login form's CSRF token is bound to its cookie by the server's secret (not a plain
double submit), so a cookie an attacker plants, or a token taken from another browser, is
useless."""

from __future__ import annotations

from tests.conftest import csrf_from
from tests.security.support import client


def _login(browser, user, token, status):
    return browser.post(
        "/login",
        {"email": user["email"], "password": user["password"], "csrf_token": token},
        status=status,
    )


def test_a_planted_cookie_with_a_matching_token_is_refused(app, make_user):
    user = make_user("staff")
    victim = client(app)
    # Double submit: any value in both places used to pass.
    chosen = "A" * 43
    victim.set_cookie("asthron_csrf", chosen)

    refused = _login(victim, user, chosen, 400)

    assert "security token" in refused.text
    assert victim.cookies.get("asthron_session") is None


def test_a_token_only_works_with_the_cookie_it_was_made_for(app, make_user):
    user = make_user("staff")
    attacker, victim = client(app), client(app)
    attackers_token = csrf_from(attacker.get("/login"))
    victim.get("/login")

    _login(victim, user, attackers_token, 400)
    # Nor with the attacker's cookie value copied over (the token is not the cookie).
    victim.set_cookie("asthron_csrf", attacker.cookies["asthron_csrf"])
    _login(victim, user, attacker.cookies["asthron_csrf"], 400)
    # The pair as issued still works.
    assert _login(attacker, user, attackers_token, 303).headers["Location"]


def test_the_token_is_not_the_cookie_value(app):
    browser = client(app)
    token = csrf_from(browser.get("/login"))

    assert browser.cookies["asthron_csrf"] != token
    # Reloading keeps the pair, so a second tab's form still works.
    assert csrf_from(browser.get("/login")) == token
