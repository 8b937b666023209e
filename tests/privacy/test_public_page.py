"""The public privacy page per site: rendered without login, 404 for an unknown key, its
version rises with each change (audited), the widget links to it, and its cookie and storage
disclosure lists exactly what the code sets."""

from __future__ import annotations

import ast
import re

import sqlalchemy as sa

from asthron.privacy import disclosure
from tests.conftest import ROOT, csrf_from


def add_site(registry, key="site_publicpage1") -> int:
    with registry["db_engine"].begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO sites (name, public_key, allowed_origins, title, greeting,"
                " accent_color, position, language, timezone, business_hours, holidays,"
                " privacy_notice, privacy_url, privacy_policy_text, privacy_policy_version,"
                " created_at, updated_at) VALUES ('Corner Shop', :key, '[\"https://shop.example\"]',"
                " 't', 'g', '#2f5bea', 'right', 'en', 'UTC', '{}', '[]', 'We keep chats.', '',"
                " '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"key": key},
        )
        return connection.execute(
            sa.text("SELECT id FROM sites WHERE public_key = :key"), {"key": key}
        ).scalar_one()


def test_page_renders_without_login_and_404s_for_unknown_keys(testapp, registry):
    add_site(registry)
    page = testapp.get("/privacy/site_publicpage1", status=200)
    assert "Privacy: Corner Shop" in page.text
    assert "This page explains what Corner Shop stores" in page.text  # the default text
    assert "Content-Security-Policy" in page.headers
    assert "Set-Cookie" not in page.headers
    for stored in disclosure.entries("site_publicpage1"):
        assert stored.name in page.text
    testapp.get("/privacy/site_nosuchsite", status=404)
    testapp.get("/privacy/bad%00key", status=404)


def test_owner_edits_the_text_and_the_version_rises(testapp, registry, login, make_user):
    site_id = add_site(registry)
    login(make_user("admin"))
    edit = testapp.get(f"/sites/{site_id}")
    token = csrf_from(edit)
    url = f"/sites/{site_id}/privacy-page"
    text = "We are <b>{site}</b>.\n\nWrite to us."
    testapp.post(url, {"privacy_policy_text": text, "effective": "2026-12-01", "csrf_token": token})
    page = testapp.get("/privacy/site_publicpage1")
    assert "Version 1, effective 2026-12-01" in page.text
    assert "We are &lt;b&gt;Corner Shop&lt;/b&gt;." in page.text
    # The same text again changes nothing; another text is version 2.
    testapp.post(url, {"privacy_policy_text": text, "effective": "2026-12-01", "csrf_token": token})
    testapp.post(url, {"privacy_policy_text": "New.", "effective": "", "csrf_token": token})
    assert "Version 2" in testapp.get("/privacy/site_publicpage1").text
    bad = testapp.post(
        url,
        {"privacy_policy_text": "x", "effective": "31/12/2026", "csrf_token": token},
        status=400,
    )
    assert "effective date" in bad.text
    with registry["db_engine"].connect() as connection:
        audited = connection.execute(
            sa.text("SELECT summary FROM audit_log WHERE action = 'site.privacy_policy_update'")
        ).all()
        assert len(audited) == 2


def test_staff_may_not_edit_the_page(testapp, registry, login, make_user):
    site_id = add_site(registry)
    login(make_user("staff"))
    token = csrf_from(testapp.get("/inbox"))
    testapp.post(
        f"/sites/{site_id}/privacy-page",
        {"privacy_policy_text": "x", "effective": "", "csrf_token": token},
        status=403,
    )


def test_widget_config_links_to_the_page_unless_the_owner_has_their_own(testapp, registry):
    add_site(registry)
    config = testapp.get(
        "/api/widget/v1/config?site_key=site_publicpage1",
        headers={"Origin": "https://shop.example"},
    ).json
    assert config["privacy"]["url"].endswith("/privacy/site_publicpage1")


# -- the disclosure cannot drift from the code --------------------------------------------


def _cookie_names_set_in_code() -> set[str]:
    """Every name passed to ``set_cookie`` anywhere in asthron/: a constant, a module-level
    name (resolved by importing the module), or ``self.X`` (every string assigned to it)."""
    import importlib

    names: set[str] = set()
    for path in (ROOT / "asthron").rglob("*.py"):
        source = path.read_text()
        if "set_cookie(" not in source:
            continue
        tree = ast.parse(source)
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "set_cookie"
                and node.args
            ):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                names.add(arg.value)
            elif isinstance(arg, ast.Name):
                names.add(getattr(importlib.import_module(module), arg.id))
            elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                found = set()
                for assign in ast.walk(tree):
                    if isinstance(assign, ast.Assign) and any(
                        isinstance(t, ast.Attribute) and t.attr == arg.attr for t in assign.targets
                    ):
                        for leaf in ast.walk(assign.value):
                            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                                found.add(leaf.value)
                            elif isinstance(leaf, ast.Name):
                                value = getattr(importlib.import_module(module), leaf.id, None)
                                if isinstance(value, str):
                                    found.add(value)
                assert found, f"{path}: cannot tell which cookie self.{arg.attr} names"
                names |= found
            else:
                raise AssertionError(f"{path}:{node.lineno}: teach this test the cookie's name")
    return names


def test_disclosure_lists_exactly_the_cookies_the_code_sets():
    disclosed = {c.name for c in disclosure.COOKIES}
    assert _cookie_names_set_in_code() == disclosed


WIDGET_SOURCES = sorted((ROOT / "widget" / "src").glob("*.js"))


def test_disclosure_lists_exactly_the_widgets_storage_keys():
    source = "\n".join(p.read_text() for p in WIDGET_SOURCES)
    built = (ROOT / "asthron" / "static" / "widget.js").read_text()
    for text in (source, built):
        # No cookies and no other storage than localStorage.
        for api in ("document.cookie", "sessionStorage", "indexedDB", "caches.open"):
            assert api not in text, f"the widget uses {api}: disclose it"
    # Every setItem writes under a key variable built from one string prefix.
    arguments = re.findall(r"\.setItem\(\s*([^,]+),", source)
    assert arguments, "the widget no longer stores anything: update the disclosure"
    assert all(re.fullmatch(r"[A-Za-z_$][\w$]*", a.strip()) for a in arguments), (
        f"a storage key that is not a variable: disclose it ({arguments})"
    )
    keys = {a.strip() for a in arguments}
    prefixes = set()
    for key in keys:
        (definition,) = re.findall(rf"\b{re.escape(key)}\s*=\s*\"([^\"]*)\"\s*\+", source)
        prefixes.add(definition)
    assert prefixes == {disclosure.WIDGET_STORAGE_PREFIX}
    assert {s.name for s in disclosure.WIDGET_STORAGE} == {
        disclosure.WIDGET_STORAGE_PREFIX + "{site key}"
    }
