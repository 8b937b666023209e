"""The old /conversations pages now live in the inbox: their addresses redirect there."""

from __future__ import annotations


def test_old_addresses_redirect_to_the_inbox(make_staff, testapp):
    staff = make_staff()
    assert staff.get("/conversations", status=303).headers["Location"] == "http://localhost/inbox"
    assert (
        staff.get("/conversations/42", status=303).headers["Location"]
        == "http://localhost/inbox/42"
    )
    # Still staff only.
    assert "/login" in testapp.get("/conversations", status=303).headers["Location"]


def test_the_inbox_is_in_the_navigation(make_staff):
    page = make_staff().get("/")
    assert 'href="http://localhost/inbox">Inbox</a>' in page.text
