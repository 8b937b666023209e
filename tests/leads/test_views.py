"""Dashboard → Leads: who may use which route, the list (filters, search, sorting, keyset
pages, hostile input), bulk actions, one lead's page and its edits, and the admin settings.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import webtest

from asthron.audit.models import AuditEntry
from asthron.audit.service import Actor
from asthron.leads import capture
from asthron.leads.models import (
    LEAD_STATUSES,
    Lead,
    LeadActivity,
    LeadConversation,
    LeadForm,
    LeadProposal,
    LeadSettings,
    QualificationAnswer,
    QualificationQuestion,
)
from tests.conftest import csrf_from
from tests.security import route_table
from tests.security.support import snapshot

UTC = dt.UTC
ROW_RE = re.compile(r'name="lead_id" value="(\d+)"')


class Member:
    """A logged-in team member in a browser of their own."""

    _ip = iter(range(40, 250))

    def __init__(self, app, make_user, role="staff", **kw):
        self.user = make_user(role, **kw)
        self.id = self.user["id"]
        self.web = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": f"192.0.2.{next(self._ip)}"})
        page = self.web.get("/login")
        self.web.post(
            "/login",
            {
                "email": self.user["email"],
                "password": self.user["password"],
                "csrf_token": csrf_from(page),
            },
            status=303,
        )
        self.csrf = csrf_from(self.web.get("/account/sessions"))

    def get(self, path, expect=200, **params):
        return self.web.get(path, params=params or None, status=expect)

    def post(self, path, data=None, status="*"):
        if isinstance(data, list):
            fields = [*data, ("csrf_token", self.csrf)]
        else:
            fields = {**(data or {}), "csrf_token": self.csrf}
        return self.web.post(path, fields, status=status)


@pytest.fixture
def member(app, make_user):
    def make(role="staff", **kw):
        return Member(app, make_user, role, **kw)

    return make


def deactivate(run_in_tm, user_id):
    from asthron.accounts.models import User

    def run(db):
        db.get(User, user_id).is_active = False

    run_in_tm(run)


def add_lead(run_in_tm, **fields) -> int:
    """A lead written directly (no capture, no note job), with any fields, created_at too."""

    def create(db):
        values = {"status": "new", "tags": [], "custom_fields": {}, "utm": {}, **fields}
        lead = Lead(**values)
        db.add(lead)
        db.flush()
        return lead.id

    return run_in_tm(create)


def audit_actions(run_in_tm, prefix="lead"):
    return run_in_tm(
        lambda db: [
            (e.action, e.target_id, e.actor_label)
            for e in db.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.action.like(prefix + "%"))
                .order_by(AuditEntry.id)
            )
        ]
    )


def lead_row(run_in_tm, lead_id):
    return run_in_tm(lambda db: db.get(Lead, lead_id))


def listed(response) -> list[int]:
    return [int(x) for x in ROW_RE.findall(response.text)]


# -- who may use what ---------------------------------------------------------------------------


def test_every_leads_route_is_in_the_security_table(app):
    """Staff work leads; only managers change the settings."""
    routes = route_table.dashboard_routes(app.registry)
    leads = {name for name in routes if name.startswith("leads.")}
    assert len(leads) == 18
    for name in leads:
        for method, rule in route_table.ROUTES[name].items():
            expected = (
                route_table.MANAGERS
                if name in ("leads.settings", "leads.rules", "leads.site_form")
                or name.startswith("leads.question")
                else route_table.LOGGED_IN
            )
            assert rule == expected, (name, method)
    # No export or change on GET: only the list, a lead and the two settings pages read.
    gets = {n for n in leads if "GET" in routes[n]}
    assert gets == {"leads.list", "leads.detail", "leads.settings", "leads.site_form"}


def test_roles_on_real_leads(app, member, run_in_tm, site):
    lead_id = add_lead(run_in_tm, name="Dana", email="dana@example.com")
    staff, admin = member("staff"), member("admin")
    anonymous = webtest.TestApp(app)
    assert "Dana" in staff.get("/leads").text
    assert "dana@example.com" in staff.get(f"/leads/{lead_id}").text
    staff.get("/leads/settings", expect=403)
    staff.get(f"/leads/settings/sites/{site['id']}", expect=403)
    assert staff.post("/leads/settings", {"phone_region": "GB"}).status_int == 403
    assert admin.get("/leads/settings").status_int == 200
    assert admin.get(f"/leads/settings/sites/{site['id']}").status_int == 200
    assert anonymous.get("/leads", status=303).location.startswith("http://localhost/login")
    anonymous.get(f"/leads/{lead_id}", status=303)
    # The nav shows Leads to every role.
    assert 'href="http://localhost/leads"' in staff.get("/").text
    # No token: refused, nothing changed.
    staff.web.post(f"/leads/{lead_id}/status", {"status": "won"}, status=400)
    assert lead_row(run_in_tm, lead_id).status == "new"
    # An export is a POST: a GET is not an export (405: the route serves POST only).
    staff.get("/leads/export.csv", expect=405)


# -- the list -----------------------------------------------------------------------------------


@pytest.fixture
def pipeline(run_in_tm, make_site, make_user):
    """Leads across two sites, statuses, owners, tags and days."""
    shop, blog = make_site("Shop"), make_site("Blog", origins=("https://blog.example.com",))
    owner = make_user("staff", email="olga@example.com")
    day = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    ids = {
        "dana": add_lead(
            run_in_tm,
            name="Dana Scully",
            email="dana@fbi.example",
            phone="+12025550143",
            company="FBI",
            source_site_id=shop["id"],
            status="new",
            tags=["vip", "café"],
            created_at=day,
        ),
        "fox": add_lead(
            run_in_tm,
            name="Fox Mulder",
            email="fox@fbi.example",
            company="FBI",
            source_site_id=shop["id"],
            status="contacted",
            qualified=True,
            assigned_user_id=owner["id"],
            tags=["vip"],
            created_at=day + dt.timedelta(days=1),
        ),
        "walter": add_lead(
            run_in_tm,
            name="Walter Skinner",
            phone="+442079460958",
            company="100% Bureau",
            source_site_id=blog["id"],
            status="won",
            tags=["vipx"],
            created_at=day + dt.timedelta(days=2),
        ),
        "monica": add_lead(
            run_in_tm,
            name="Monica_Reyes",
            email="monica@example.org",
            status="lost",
            created_at=day + dt.timedelta(days=3),
        ),
    }
    return {"ids": ids, "shop": shop, "blog": blog, "owner": owner}


def _names(run_in_tm, pipeline, response):
    by_id = {v: k for k, v in pipeline["ids"].items()}
    return sorted(by_id[i] for i in listed(response))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ["dana", "fox", "monica", "walter"]),
        ({"status": "won"}, ["walter"]),
        ({"qualified": "yes"}, ["fox"]),
        ({"qualified": "no"}, ["dana", "monica", "walter"]),
        ({"assigned": "none"}, ["dana", "monica", "walter"]),
        ({"tag": "vip"}, ["dana", "fox"]),  # whole tags: "vipx" is another tag
        ({"tag": "Café"}, ["dana"]),
        ({"since": "2026-03-02", "until": "2026-03-03"}, ["fox", "walter"]),
        ({"until": "2026-03-01"}, ["dana"]),
        ({"since": "2026-03-04"}, ["monica"]),
        ({"q": "fbi"}, ["dana", "fox"]),
        ({"q": "SCULLY"}, ["dana"]),
        ({"q": "(202) 555-01"}, ["dana"]),  # phones are found by their digits
        ({"q": "7946"}, ["walter"]),
        ({"q": "%"}, ["walter"]),  # LIKE wildcards are literal
        ({"q": "_"}, ["monica"]),
        ({"q": "\\"}, []),
        ({"q": "' OR 1=1 --"}, []),
        ({"status": "new", "tag": "vip", "q": "dana"}, ["dana"]),
    ],
)
def test_list_filters_and_search(member, run_in_tm, pipeline, params, expected):
    staff = member("staff")
    assert _names(run_in_tm, pipeline, staff.get("/leads", **params)) == expected


def test_site_and_assignee_filters(member, run_in_tm, pipeline):
    staff = member("staff")
    shop, blog, owner = pipeline["shop"], pipeline["blog"], pipeline["owner"]
    assert _names(run_in_tm, pipeline, staff.get("/leads", site=str(shop["id"]))) == [
        "dana",
        "fox",
    ]
    assert _names(run_in_tm, pipeline, staff.get("/leads", site=str(blog["id"]))) == ["walter"]
    assert _names(run_in_tm, pipeline, staff.get("/leads", assigned=str(owner["id"]))) == ["fox"]
    assert _names(run_in_tm, pipeline, staff.get("/leads", assigned="me")) == []
    run_in_tm(
        lambda db: db.execute(
            sa.update(Lead)
            .where(Lead.id == pipeline["ids"]["monica"])
            .values(assigned_user_id=staff.id)
        )
    )
    assert _names(run_in_tm, pipeline, staff.get("/leads", assigned="me")) == ["monica"]


@pytest.mark.parametrize(
    "query",
    [
        "status=evil",
        "status=new&status=won",
        "site=abc",
        "site=999999",
        "site=%D9%A1",  # an Arabic-Indic digit one
        "qualified=maybe",
        "assigned=999999",
        "assigned=1%20OR%201=1",
        "since=2026-13-45",
        "until=yesterday",
        "since=0000-01-01",
        "since=2026-03-05&until=2026-03-01",
        "sort=name%3BDROP%20TABLE%20leads",
        "sort=email",
        "sort=created_at",
        "dir=sideways",
        "tag=%3Cscript%3E",
        "tag=" + "a" * 60,
        "q=" + "x" * 500,
        "after=garbage",
        "after=W10",  # valid base64 of "[]"
        "after=" + "A" * 1000,
    ],
)
def test_hostile_list_input_is_a_400_with_a_message(member, run_in_tm, pipeline, query, registry):
    staff = member("staff")
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    response = staff.web.get("/leads?" + query, status=400)
    assert 'class="error"' in response.text
    assert listed(response) == []
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before


def test_a_cursor_of_another_sort_is_refused(member, run_in_tm, pipeline, monkeypatch):
    from asthron.leads import pipeline as lead_pipeline

    monkeypatch.setattr(lead_pipeline, "PAGE_SIZE", 2)
    staff = member("staff")
    page = staff.get("/leads", sort="name", dir="asc")
    after = _next_after(page)
    assert after
    staff.web.get(f"/leads?sort=created&after={after}", status=400)
    staff.web.get(f"/leads?sort=name&dir=asc&after={after}", status=200)


def _next_after(response) -> str | None:
    match = re.search(r'<a href="([^"]+)">Next page</a>', response.text)
    if not match:
        return None
    url = match.group(1).replace("&amp;", "&")
    return parse_qs(urlsplit(url).query)["after"][0]


@pytest.mark.parametrize("sort", ["created", "updated", "name", "status"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_keyset_pages_cover_every_lead_once_in_order(
    member, run_in_tm, monkeypatch, sort, direction
):
    from asthron.leads import pipeline as lead_pipeline

    monkeypatch.setattr(lead_pipeline, "PAGE_SIZE", 3)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["new", "won", "contacted", "lost", "qualified"]
    names = ["bob", "Alice", None, "alice", "Carol", "bob", "dave", "Eve"]
    expected = []
    for i, name in enumerate(names):
        # Equal timestamps in pairs: ties are broken by the id.
        when = start + dt.timedelta(hours=i // 2)
        lead_id = add_lead(
            run_in_tm,
            name=name,
            email=f"l{i}@example.com",
            status=statuses[i % len(statuses)],
            created_at=when,
            updated_at=when,
        )
        key = {
            "created": when,
            "updated": when,
            "name": (name or "").lower(),
            "status": LEAD_STATUSES.index(statuses[i % len(statuses)]),
        }[sort]
        expected.append((key, lead_id))
    expected.sort(reverse=direction == "desc")
    staff = member("staff")
    seen, after, pages = [], None, 0
    while True:
        params = {"sort": sort, "dir": direction}
        if after:
            params["after"] = after
        page = staff.get("/leads", **params)
        rows = listed(page)
        assert len(rows) <= 3
        seen.extend(rows)
        pages += 1
        after = _next_after(page)
        if not after:
            break
        assert pages < 10
    assert seen == [lead_id for _key, lead_id in expected]
    assert pages == 3


# -- bulk actions -------------------------------------------------------------------------------


def test_bulk_status_and_assignment_are_audited_per_lead(member, run_in_tm, make_user):
    ids = [add_lead(run_in_tm, email=f"b{i}@example.com") for i in range(3)]
    other = add_lead(run_in_tm, email="other@example.com")
    staff = member("staff")
    colleague = make_user("staff", email="colleague@example.com")
    page = staff.get("/leads")
    assert set(listed(page)) == {*ids, other}
    response = staff.post(
        "/leads/bulk",
        [*(("lead_id", str(i)) for i in ids), ("action", "status"), ("status", "contacted")],
    )
    assert response.status_int == 303
    assert "notice=leads_updated" in response.location
    assert [lead_row(run_in_tm, i).status for i in ids] == ["contacted"] * 3
    assert lead_row(run_in_tm, other).status == "new"
    response = staff.post(
        "/leads/bulk",
        [
            *(("lead_id", str(i)) for i in ids[:2]),
            ("action", "assign"),
            ("assignee", str(colleague["id"])),
        ],
    )
    assert response.status_int == 303
    assert [lead_row(run_in_tm, i).assigned_user_id for i in ids] == [
        colleague["id"],
        colleague["id"],
        None,
    ]
    entries = audit_actions(run_in_tm, "lead.")
    email = staff.user["email"]
    assert [e for e in entries if e[0] == "lead.status"] == [
        ("lead.status", str(i), email) for i in ids
    ]
    assert [e for e in entries if e[0] == "lead.assign"] == [
        ("lead.assign", str(i), email) for i in ids[:2]
    ]
    timeline = run_in_tm(
        lambda db: [
            a.body
            for a in db.scalars(sa.select(LeadActivity).where(LeadActivity.lead_id == ids[0]))
        ]
    )
    assert "Status: new → contacted." in timeline


def test_bulk_refuses_bad_input_and_changes_nothing(member, run_in_tm, make_user, registry):
    lead_id = add_lead(run_in_tm, email="b@example.com")
    staff = member("staff")
    inactive = make_user("staff", email="gone@example.com")
    deactivate(run_in_tm, inactive["id"])
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    cases = [
        [("lead_id", str(lead_id)), ("action", "delete")],
        [("lead_id", str(lead_id)), ("action", "status"), ("status", "archived")],
        [("lead_id", str(lead_id)), ("action", "assign"), ("assignee", str(inactive["id"]))],
        [("lead_id", str(lead_id)), ("action", "assign"), ("assignee", "1 OR 1=1")],
        [("lead_id", "999999"), ("action", "status"), ("status", "won")],
        [("lead_id", str(lead_id)), ("lead_id", "999999"), ("action", "status"), ("status", "won")],
        [("lead_id", "abc"), ("action", "status"), ("status", "won")],
        [("action", "status"), ("status", "won")],
        [("lead_id", str(lead_id)), ("action", "status"), ("action", "assign")],
        [*(("lead_id", str(lead_id)) for _ in range(501)), ("action", "status"), ("status", "won")],
    ]
    for fields in cases:
        response = staff.post("/leads/bulk", fields)
        assert response.status_int == 400, fields
        assert 'class="error"' in response.text
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before


# -- one lead -----------------------------------------------------------------------------------


@pytest.fixture
def captured(run_in_tm, site):
    """A lead captured in a conversation, with consent, UTM, an answer and a custom field."""
    from asthron.conversations import service as conversations
    from asthron.sites.models import Site

    def arrange(db):
        db.add(LeadForm(site_id=site["id"], fields=[], custom_fields=["budget_range"]))
        db.add(QualificationQuestion(key="budget", text="Budget?", kind="number", position=1))
        db.flush()
        visitor, _ = conversations.start_visitor(
            db,
            db.get(Site, site["id"]),
            "UA",
            "https://shop.example.com/pricing?utm_source=ads&utm_campaign=spring",
        )
        visitor.consent_at = dt.datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
        visitor.consent_notice = "We keep your details to reply."
        conversation, _ = conversations.open_conversation(db, visitor)
        event = conversations.append_event(
            db, conversation, "visitor_message", "I need a quote for 20 chairs"
        )
        claim = capture.LeadClaim.parse(
            {"name": "Dana", "email": "dana@example.com", "budget_range": "5-10k"},
            "US",
            ["budget_range"],
        )
        result = capture.capture(
            db,
            claim,
            actor=Actor(label="visitor"),
            site_id=site["id"],
            conversation=conversation,
            visitor=visitor,
        )
        question = db.scalar(sa.select(QualificationQuestion))
        db.add(
            QualificationAnswer(
                lead_id=result.lead.id,
                question_id=question.id,
                value={"v": 8000},
                event_id=event.id,
            )
        )
        return result.lead.id, conversation.id

    lead_id, conversation_id = run_in_tm(arrange)
    return {"lead_id": lead_id, "conversation_id": conversation_id, "site": site}


def test_detail_shows_everything_about_the_lead(member, run_in_tm, captured):
    staff = member("staff")
    lead_id, conversation_id = captured["lead_id"], captured["conversation_id"]
    page = staff.get(f"/leads/{lead_id}").text
    lead = lead_row(run_in_tm, lead_id)
    for text in (
        "Dana",
        "dana@example.com",
        "budget_range",
        "5-10k",
        "utm_source",
        "ads",
        "spring",
        "https://shop.example.com/pricing?utm_source=ads&amp;utm_campaign=spring",
        "Shop",
        "2026-02-01 09:30 UTC",
        f"notice version {lead.consent_notice_version}",
        "We keep your details to reply.",
        "Budget?",
        "8000",
        "Captured from the form.",
        f"Conversation #{conversation_id} started",
        f'href="http://localhost/inbox/{conversation_id}"',
    ):
        assert text in page, text
    # The AI note was written after capture, citing the conversation.
    assert f"From conversation #{conversation_id}" in page
    staff.get("/leads/999999", expect=404)


def test_staff_edits_overwrite_and_conflicts_are_form_errors(member, run_in_tm, captured, registry):
    staff = member("staff")
    lead_id = captured["lead_id"]
    add_lead(run_in_tm, email="taken@example.com", phone="+12025550199")
    response = staff.post(
        f"/leads/{lead_id}/edit",
        {
            "name": "  Dana   K. Scully ",
            "email": "Dana.Scully@Example.com",
            "phone": "(202) 555-0143",
            "company": "FBI",
            "custom.budget_range": "10-20k",
        },
    )
    assert response.status_int == 303
    lead = lead_row(run_in_tm, lead_id)
    assert (lead.name, lead.email, lead.phone, lead.company) == (
        "Dana K. Scully",
        "dana.scully@example.com",
        "+12025550143",
        "FBI",
    )
    assert lead.custom_fields == {"budget_range": "10-20k"}
    assert ("lead.update", str(lead_id), staff.user["email"]) in audit_actions(run_in_tm)

    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    for data, field_name in [
        ({"email": "TAKEN@example.com", "phone": ""}, "email"),
        ({"email": "dana.scully@example.com", "phone": "202 555 0199"}, "phone"),
        ({"email": "not an email"}, "email"),
        ({"email": "", "phone": "12"}, "phone"),
        ({"email": "", "phone": ""}, "email"),
        ({"email": "d@example.com", "name": "x" * 121}, "name"),
        ({"email": "d@example.com", "custom.budget_range": "y" * 501}, "custom.budget_range"),
    ]:
        response = staff.post(f"/leads/{lead_id}/edit", data)
        assert response.status_int == 400, data
        assert f'id="err-{field_name.replace(".", "-")}"' in response.text, data
        assert "Internal" not in response.text
    assert (
        "Another lead already has this email."
        in staff.post(f"/leads/{lead_id}/edit", {"email": "taken@example.com"}).text
    )
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before


def test_status_assignment_tags_and_notes(member, run_in_tm, captured, make_user, registry):
    staff = member("staff")
    lead_id = captured["lead_id"]
    colleague = make_user("admin", email="ana@example.com", name="Ana")
    assert staff.post(f"/leads/{lead_id}/status", {"status": "won"}).status_int == 303
    assert (
        staff.post(f"/leads/{lead_id}/assign", {"assignee": str(colleague["id"])}).status_int == 303
    )
    assert (
        staff.post(f"/leads/{lead_id}/tags", {"tags": "VIP, repeat buyer, vip"}).status_int == 303
    )
    assert (
        staff.post(f"/leads/{lead_id}/notes", {"body": "Called; wants a demo."}).status_int == 303
    )
    lead = lead_row(run_in_tm, lead_id)
    assert (lead.status, lead.assigned_user_id, lead.tags) == (
        "won",
        colleague["id"],
        ["vip", "repeat buyer"],
    )
    page = staff.get(f"/leads/{lead_id}").text
    assert "Called; wants a demo." in page and "Assigned to Ana." in page
    notes = run_in_tm(
        lambda db: [
            (a.kind, a.body, a.actor_label)
            for a in db.scalars(
                sa.select(LeadActivity).where(
                    LeadActivity.lead_id == lead_id, LeadActivity.kind == "note"
                )
            )
        ]
    )
    assert notes == [("note", "Called; wants a demo.", staff.user["email"])]
    actions = [a for a, target, _ in audit_actions(run_in_tm) if target == str(lead_id)]
    for action in ("lead.status", "lead.assign", "lead.tags", "lead.note"):
        assert action in actions
    # Unassign, and refusals that change nothing.
    assert staff.post(f"/leads/{lead_id}/assign", {"assignee": "none"}).status_int == 303
    assert lead_row(run_in_tm, lead_id).assigned_user_id is None
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    for path, data in [
        ("status", {"status": "archived"}),
        ("status", {"status": "won'; --"}),
        ("assign", {"assignee": "999999"}),
        ("assign", {"assignee": "-1"}),
        ("tags", {"tags": "<b>bold</b>"}),
        ("tags", {"tags": ",".join(f"t{i}" for i in range(21))}),
        ("notes", {"body": "   "}),
        ("notes", {"body": "x" * 5001}),
    ]:
        response = staff.post(f"/leads/{lead_id}/{path}", data)
        assert response.status_int == 400, (path, data)
        assert 'class="error' in response.text
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before


def test_assignment_only_to_active_members(member, run_in_tm, captured, make_user):
    staff = member("staff")
    lead_id = captured["lead_id"]
    gone = make_user("staff", email="gone@example.com")
    deactivate(run_in_tm, gone["id"])
    assert f'value="{gone["id"]}"' not in staff.get(f"/leads/{lead_id}").text.split("Assignment")[1]
    response = staff.post(f"/leads/{lead_id}/assign", {"assignee": str(gone["id"])})
    assert response.status_int == 400
    assert "Choose an active team member." in response.text
    assert lead_row(run_in_tm, lead_id).assigned_user_id is None


def _propose(run_in_tm, site, **fields):
    """A second claim for the same email, from another conversation: proposals, not writes."""
    from asthron.conversations import service as conversations
    from asthron.sites.models import Site

    def run(db):
        visitor, _ = conversations.start_visitor(db, db.get(Site, site["id"]), "UA", None)
        conversation, _ = conversations.open_conversation(db, visitor)
        claim = capture.LeadClaim.parse(fields, "US")
        result = capture.capture(
            db,
            claim,
            actor=Actor(label="visitor"),
            site_id=site["id"],
            conversation=conversation,
            visitor=visitor,
        )
        return {p.field: p.id for p in result.proposals}

    return run_in_tm(run)


def test_proposals_accept_and_reject(member, run_in_tm, captured):
    staff = member("staff")
    lead_id, site = captured["lead_id"], captured["site"]
    proposals = _propose(
        run_in_tm, site, email="dana@example.com", name="Dana Scully", company="FBI"
    )
    # company was empty, so it was filled; name differed, so it is proposed.
    assert set(proposals) == {"name"}
    page = staff.get(f"/leads/{lead_id}").text
    assert "Proposed changes to review" in page and "Dana Scully" in page
    response = staff.post(f"/leads/{lead_id}/proposals/{proposals['name']}", {"decision": "accept"})
    assert response.status_int == 303 and "proposal_accepted" in response.location
    assert lead_row(run_in_tm, lead_id).name == "Dana Scully"
    # Decided once only.
    again = staff.post(f"/leads/{lead_id}/proposals/{proposals['name']}", {"decision": "reject"})
    assert again.status_int == 400

    second = _propose(run_in_tm, site, email="dana@example.com", name="D. S.")
    assert (
        staff.post(
            f"/leads/{lead_id}/proposals/{second['name']}", {"decision": "reject"}
        ).status_int
        == 303
    )
    assert lead_row(run_in_tm, lead_id).name == "Dana Scully"
    states = run_in_tm(lambda db: sorted(p.state for p in db.scalars(sa.select(LeadProposal))))
    assert states == ["accepted", "rejected"]
    actions = [a for a, t, _ in audit_actions(run_in_tm) if t == str(lead_id)]
    assert "lead.proposal_accepted" in actions and "lead.proposal_rejected" in actions
    for bad in ({"decision": "maybe"}, {}):
        assert staff.post(f"/leads/{lead_id}/proposals/{second['name']}", bad).status_int == 400


def test_a_proposal_of_another_lead_or_a_taken_value_is_refused(member, run_in_tm, captured):
    staff = member("staff")
    lead_id, site = captured["lead_id"], captured["site"]
    other = add_lead(run_in_tm, email="other@example.com")
    proposals = _propose(run_in_tm, site, email="dana@example.com", phone="+12025550143")
    assert proposals == {}  # the phone was empty: filled, not proposed
    # A proposed phone that another lead took in the meantime.
    run_in_tm(
        lambda db: db.add(LeadProposal(lead_id=lead_id, field="email", value="other@example.com"))
    )
    proposal_id = run_in_tm(
        lambda db: db.scalar(sa.select(LeadProposal.id).where(LeadProposal.lead_id == lead_id))
    )
    response = staff.post(f"/leads/{lead_id}/proposals/{proposal_id}", {"decision": "accept"})
    assert response.status_int == 400
    assert "Another lead already has this email." in response.text
    assert lead_row(run_in_tm, lead_id).email == "dana@example.com"
    # The proposal is not this other lead's.
    response = staff.post(f"/leads/{other}/proposals/{proposal_id}", {"decision": "accept"})
    assert response.status_int == 400
    staff.post(f"/leads/{lead_id}/proposals/999999", {"decision": "accept"}, status=400)


def test_ai_note_edit_is_kept_until_regenerate(member, run_in_tm, captured):
    staff = member("staff")
    lead_id, conversation_id = captured["lead_id"], captured["conversation_id"]
    written = lead_row(run_in_tm, lead_id)
    assert written.ai_note and not written.ai_note_edited
    assert written.ai_note_conversation_id == conversation_id
    response = staff.post(f"/leads/{lead_id}/ai-note", {"ai_note": "Wants 20 chairs by May."})
    assert response.status_int == 303
    lead = lead_row(run_in_tm, lead_id)
    assert (lead.ai_note, lead.ai_note_edited) == ("Wants 20 chairs by May.", True)
    assert "Edited by a person" in staff.get(f"/leads/{lead_id}").text
    # Regenerate: the job runs after commit (immediately in tests) and rewrites it.
    response = staff.post(f"/leads/{lead_id}/ai-note/regenerate")
    assert response.status_int == 303
    lead = lead_row(run_in_tm, lead_id)
    assert not lead.ai_note_edited
    assert "I need a quote for 20 chairs" in lead.ai_note
    assert lead.ai_note.endswith(f"From conversation #{conversation_id}")
    actions = [a for a, t, _ in audit_actions(run_in_tm) if t == str(lead_id)]
    assert "lead.ai_note_edit" in actions and "lead.ai_note_regenerate" in actions
    too_long = staff.post(f"/leads/{lead_id}/ai-note", {"ai_note": "x" * 5001})
    assert too_long.status_int == 400


# -- admin settings -----------------------------------------------------------------------------


def test_general_settings_and_phone_region(member, run_in_tm, registry):
    admin = member("admin")
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    for bad in ("XX", "G", "gbr", "", "1", "ZZ"):
        response = admin.post("/leads/settings", {"phone_region": bad})
        assert response.status_int == 400, bad
        assert "two-letter country code" in response.text
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before
    response = admin.post("/leads/settings", {"phone_region": "gb", "handoff_when_qualified": "1"})
    assert response.status_int == 303
    settings = run_in_tm(lambda db: db.get(LeadSettings, 1))
    assert (
        settings.phone_region,
        settings.handoff_when_qualified,
        settings.notify_when_qualified,
    ) == ("GB", True, False)
    assert ("lead_settings.update", "1", admin.user["email"]) in audit_actions(
        run_in_tm, "lead_settings"
    )
    # The region is used when staff type a national number.
    lead_id = add_lead(run_in_tm, email="uk@example.com")
    staff = member("staff")
    staff.post(f"/leads/{lead_id}/edit", {"email": "uk@example.com", "phone": "020 7946 0958"})
    assert lead_row(run_in_tm, lead_id).phone == "+442079460958"


def test_questions_add_edit_reorder_deactivate(member, run_in_tm, registry):
    admin = member("admin")
    for data in (
        {"key": "budget", "text": "What is your budget?", "kind": "number"},
        {
            "key": "timeline",
            "text": "When do you start?",
            "kind": "single",
            "options": "this month, later",
        },
        {"key": "services", "text": "Which services?", "kind": "multi", "options": "A\nB\nC"},
    ):
        assert admin.post("/leads/settings/questions", data).status_int == 303
    rows = run_in_tm(
        lambda db: [
            (q.key, q.kind, q.options, q.position)
            for q in db.scalars(sa.select(QualificationQuestion).order_by(QualificationQuestion.id))
        ]
    )
    assert rows == [
        ("budget", "number", [], 1),
        ("timeline", "single", ["this month", "later"], 2),
        ("services", "multi", ["A", "B", "C"], 3),
    ]
    ids = run_in_tm(
        lambda db: list(
            db.scalars(sa.select(QualificationQuestion.id).order_by(QualificationQuestion.id))
        )
    )
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    for bad in (
        {"key": "budget", "text": "Again?", "kind": "number"},  # the key is taken
        {"key": "Bad Key!", "text": "?", "kind": "text"},
        {"key": "x", "text": "?", "kind": "essay"},
        {"key": "x", "text": "", "kind": "text"},
        {"key": "x", "text": "Pick", "kind": "single", "options": "only one"},
    ):
        assert admin.post("/leads/settings/questions", bad).status_int == 400, bad
    assert (
        admin.post(f"/leads/settings/questions/{ids[0]}/move", {"direction": "left"}).status_int
        == 400
    )
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before
    # Move "services" to the top, then deactivate "budget".
    for _ in range(2):
        admin.post(f"/leads/settings/questions/{ids[2]}/move", {"direction": "up"})
    admin.post(
        f"/leads/settings/questions/{ids[0]}",
        {"text": "Your budget, roughly?", "kind": "number", "required": "1"},
    )
    from asthron.leads import qualification

    active = run_in_tm(lambda db: [(q.key, q.text) for q in qualification.questions(db)])
    assert active == [("services", "Which services?"), ("timeline", "When do you start?")]
    budget = run_in_tm(lambda db: db.get(QualificationQuestion, ids[0]))
    assert (budget.text, budget.required, budget.active) == ("Your budget, roughly?", True, False)
    actions = [a for a, _t, _ in audit_actions(run_in_tm, "lead_question")]
    assert actions.count("lead_question.create") == 3
    assert "lead_question.move" in actions and "lead_question.update" in actions
    admin.post("/leads/settings/questions/999999", {"text": "x", "kind": "text"}, status=404)


def test_rules_from_the_allowlisted_ops(member, run_in_tm, registry):
    admin = member("admin")
    run_in_tm(
        lambda db: db.add_all(
            [
                QualificationQuestion(key="budget", text="Budget?", kind="number", position=1),
                QualificationQuestion(
                    key="timeline",
                    text="When?",
                    kind="single",
                    options=["soon", "later"],
                    position=2,
                ),
                QualificationQuestion(key="start", text="Start date?", kind="date", position=3),
            ]
        )
    )
    response = admin.post(
        "/leads/settings/rules",
        {
            "rule_question_0": "budget",
            "rule_op_0": ">=",
            "rule_value_0": "5,000",
            "rule_question_1": "timeline",
            "rule_op_1": "in",
            "rule_value_1": "soon, later",
            "rule_question_2": "start",
            "rule_op_2": "<",
            "rule_value_2": "2027-01-01",
            "rule_question_3": "",
        },
    )
    assert response.status_int == 303
    rules = run_in_tm(lambda db: db.get(LeadSettings, 1).rules)
    assert rules == [
        {"question": "budget", "op": ">=", "value": 5000},
        {"question": "timeline", "op": "in", "value": ["soon", "later"]},
        {"question": "start", "op": "<", "value": "2027-01-01"},
    ]
    assert [a for a, _t, _u in audit_actions(run_in_tm, "lead_rules")] == ["lead_rules.update"]
    page = admin.get("/leads/settings").text
    assert 'value="soon, later"' in page
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    for bad in (
        {"rule_question_0": "budget", "rule_op_0": "~=", "rule_value_0": "5"},
        {"rule_question_0": "budget", "rule_op_0": "; DROP", "rule_value_0": "5"},
        {"rule_question_0": "nope", "rule_op_0": "==", "rule_value_0": "5"},
        {"rule_question_0": "budget", "rule_op_0": ">=", "rule_value_0": "lots"},
        {"rule_question_0": "budget", "rule_op_0": ">=", "rule_value_0": "nan"},
        {"rule_question_0": "timeline", "rule_op_0": ">", "rule_value_0": "soon"},
        {"rule_question_0": "timeline", "rule_op_0": "==", "rule_value_0": "never"},
        {"rule_question_0": "start", "rule_op_0": ">=", "rule_value_0": "tomorrow"},
        {"rule_question_0": "budget", "rule_op_0": ">=", "rule_value_0": ""},
    ):
        response = admin.post("/leads/settings/rules", bad)
        assert response.status_int == 400, bad
        assert 'class="error' in response.text
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before


def test_site_lead_form_settings(member, run_in_tm, site, registry):
    admin = member("admin")
    url = f"/leads/settings/sites/{site['id']}"
    page = admin.get(url).text
    assert 'name="show_email" value="1" checked' in page
    response = admin.post(
        url,
        {
            "intro": "Tell us how to reach you",
            "after_messages": "3",
            "before_handoff": "1",
            "custom_fields": "budget_range\nproject_type",
            "notify_emails": "Sales@Example.com, boss@example.com",
            "show_email": "1",
            "required_email": "1",
            "order_email": "0",
            "label_email": "Work email",
            "show_name": "1",
            "order_name": "1",
            "show_phone": "",
            "show_project_type": "1",
            "label_project_type": "Project",
            "kind_project_type": "select",
            "options_project_type": "Website, Shop",
            "order_project_type": "2",
        },
    )
    assert response.status_int == 303
    form = run_in_tm(lambda db: db.get(LeadForm, site["id"]))
    assert [f["name"] for f in form.fields] == ["email", "name", "project_type", "budget_range"]
    email = form.fields[0]
    assert (email["label"], email["kind"], email["required"]) == ("Work email", "email", True)
    assert form.fields[2]["options"] == ["Website", "Shop"]
    assert form.fields[3]["kind"] == "text"  # just named: added as a text field
    assert form.custom_fields == ["budget_range", "project_type"]
    assert form.notify_emails == ["sales@example.com", "boss@example.com"]
    assert (form.intro, form.after_messages, form.before_handoff, form.on_booking_intent) == (
        "Tell us how to reach you",
        3,
        True,
        False,
    )
    assert ("lead_form.update", str(site["id"]), admin.user["email"]) in audit_actions(
        run_in_tm, "lead_form"
    )
    before = snapshot(registry["db_engine"], skip=("user_sessions",))
    good = {"intro": "Hi", "show_email": "1"}
    for bad in (
        {"intro": "Hi", "show_name": "1"},  # neither email nor phone
        {**good, "intro": ""},
        {**good, "after_messages": "-1"},
        {**good, "after_messages": "1e3"},
        {**good, "custom_fields": "email"},
        {**good, "custom_fields": "Bad Name"},
        {**good, "custom_fields": "\n".join(f"f{i}" for i in range(11))},
        {**good, "notify_emails": "not-an-email"},
        {**good, "custom_fields": "x", "label_x": "X", "kind_x": "script"},
        {**good, "custom_fields": "x", "label_x": "X", "kind_x": "select", "options_x": "one"},
        {**good, "order_email": "100"},
    ):
        response = admin.post(url, bad)
        assert response.status_int == 400, bad
        assert 'class="error' in response.text
    assert snapshot(registry["db_engine"], skip=("user_sessions",)) == before
    admin.get("/leads/settings/sites/999999", expect=404)


def test_new_and_qualified_lead_emails_are_delivered(
    testapp, member, run_in_tm, site, smtp_server, configure_smtp
):
    """Recipients set on the settings page get the new-lead and qualified-lead emails, through
    the outbox, from a real SMTP server on loopback."""
    from asthron.jobs.models import OutboxItem
    from asthron.leads import qualification
    from asthron.leads.notify import notify_new_or_qualified
    from tests.fixtures.visitors import Visitor

    server = smtp_server()
    configure_smtp(server)
    admin = member("admin")
    admin.post(
        f"/leads/settings/sites/{site['id']}",
        {"intro": "Hi", "show_email": "1", "show_name": "1", "notify_emails": "sales@example.com"},
    )
    admin.post("/leads/settings", {"phone_region": "US", "notify_when_qualified": "1"})
    admin.post("/leads/settings/questions", {"key": "budget", "text": "Budget?", "kind": "number"})
    admin.post(
        "/leads/settings/rules",
        {"rule_question_0": "budget", "rule_op_0": ">=", "rule_value_0": "1000"},
    )

    visitor = Visitor(testapp, site)
    conversation_id = visitor.open()["id"]
    testapp.post_json(
        f"/api/widget/v1/conversations/{conversation_id}/lead",
        {"fields": {"name": "Dana", "email": "dana@example.com"}},
        headers=visitor.headers,
        status=201,
    )
    assert len(server.messages) == 1
    message = server.messages[0]
    assert message["rcpt_tos"] == ["sales@example.com"]
    assert message["message"]["Subject"] == "Asthron: a new lead — Dana"
    lead_id = run_in_tm(lambda db: db.scalar(sa.select(Lead.id)))
    assert f"/leads/{lead_id}" in message["message"].get_body(("plain",)).get_content()

    def qualify(db):
        from asthron.conversations.models import Conversation

        lead = db.get(Lead, lead_id)
        question = db.scalar(sa.select(QualificationQuestion))
        qualification.record_answer(db, lead, question, 5000, None, Actor.system())
        assert qualification.evaluate(db, lead, Actor.system())
        notify_new_or_qualified(
            db, lead, db.get(Conversation, conversation_id), created=False, qualified=True
        )

    run_in_tm(qualify)
    assert [m["message"]["Subject"] for m in server.messages][1] == (
        "Asthron: a qualified lead — Dana"
    )
    states = run_in_tm(lambda db: [i.state for i in db.scalars(sa.select(OutboxItem))])
    assert states == ["done", "done"]
    page = member("staff").get(f"/leads/{lead_id}").text
    assert "qualified" in page and "Budget?" in page


def test_link_table_is_the_only_way_to_a_conversation(member, run_in_tm, captured):
    """The timeline links only the lead's own conversations."""
    staff = member("staff")
    lead_id = captured["lead_id"]
    linked = run_in_tm(
        lambda db: list(
            db.scalars(
                sa.select(LeadConversation.conversation_id).where(
                    LeadConversation.lead_id == lead_id
                )
            )
        )
    )
    page = staff.get(f"/leads/{lead_id}").text
    links = {int(x) for x in re.findall(r'href="http://localhost/inbox/(\d+)"', page)}
    assert links == set(linked)
