"""The payments list (filters from an allowlist), monthly totals, and the usage page's link."""

from __future__ import annotations

import datetime as dt

from asthron.db import utcnow
from asthron.payments.models import Payment


def add(db, reference, status, amount, currency="eur", refunded=0, kind="request", paid=True):
    now = utcnow()
    db.add(
        Payment(
            reference=reference,
            kind=kind,
            status=status,
            amount_cents=amount,
            refunded_cents=refunded,
            currency=currency,
            description=f"Payment {reference}",
            expires_at=now + dt.timedelta(hours=1),
            paid_at=now if paid else None,
            created_at=now,
            updated_at=now,
        )
    )


def test_list_filters_and_monthly_totals(testapp, run_in_tm, make_user, login):
    def arrange(db):
        add(db, "a", "paid", 5000, refunded=1000)
        add(db, "b", "paid", 2500)
        add(db, "c", "open", 900, currency="usd", kind="booking", paid=False)
        add(db, "d", "refunded", 1200, currency="usd", refunded=1200)

    run_in_tm(arrange)
    login(make_user("admin"))
    page = testapp.get("/payments")
    for reference in "abcd":
        assert f"Payment {reference}" in page.text
    month = utcnow().strftime("%Y-%m")
    # EUR: two paid (75.00), 10.00 refunded, 65.00 net; USD: 12.00 paid and refunded.
    assert (
        f"<td>{month}</td><td>EUR</td><td>2</td><td>75.00 EUR</td><td>10.00 EUR</td>"
        "<td>65.00 EUR</td>"
    ) in page.text
    assert f"<td>{month}</td><td>USD</td><td>1</td><td>12.00 USD</td>" in page.text

    paid_only = testapp.get("/payments", {"status": "paid"})
    assert "Payment a" in paid_only.text and "Payment c" not in paid_only.text
    bookings = testapp.get("/payments", {"kind": "booking"})
    assert "Payment c" in bookings.text and "Payment a" not in bookings.text
    # Values outside the allowlist are ignored, never put in a query.
    hostile = testapp.get("/payments", {"status": "paid' OR 1=1 --", "since": "garbage"})
    assert all(f"Payment {r}" in hostile.text for r in "abcd")

    # The same totals on the usage page (the usage_sections hook: assistant never imports
    # payments).
    usage = testapp.get("/usage")
    assert "Payments received" in usage.text
    assert (
        f"<td>{month}</td><td>EUR</td><td>2</td><td>75.00 EUR</td><td>10.00 EUR</td>"
        "<td>65.00 EUR</td>"
    ) in usage.text


def test_staff_see_no_payments_list(testapp, make_user, login):
    login(make_user("staff"))
    testapp.get("/payments", status=403)
    assert "/payments#totals" not in testapp.get("/", status=200).text
    # Staff cannot open the usage page at all (owners and admins only).
    testapp.get("/usage", status=403)
