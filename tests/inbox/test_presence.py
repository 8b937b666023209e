"""Presence: heartbeats, automatic away when idle, the manual toggle and the sound setting;
and what the widget's "someone is available" makes of it."""

from __future__ import annotations

import datetime as dt


def _presence(run_in_tm, user_id):
    from asthron.accounts.models import StaffPresence

    def read(db):
        row = db.get(StaffPresence, user_id)
        return None if row is None else (row.status, row.manual, row.sound)

    return run_in_tm(read)


def test_heartbeats_and_idle(make_staff, run_in_tm):
    alice = make_staff()
    assert _presence(run_in_tm, alice.id) is None
    assert alice.post("/inbox/heartbeat", {"idle": "0"}).json == {
        "status": "online",
        "manual": False,
        "sound": True,
    }
    assert alice.post("/inbox/heartbeat", {"idle": "1"}).json["status"] == "away"
    assert alice.post("/inbox/heartbeat", {"idle": "0"}).json["status"] == "online"


def test_manual_away_survives_heartbeats(make_staff, run_in_tm):
    alice = make_staff()
    assert alice.post("/inbox/presence", {"status": "away"}).json == {
        "status": "away",
        "manual": True,
        "sound": True,
    }
    assert alice.post("/inbox/heartbeat", {"idle": "0"}).json["status"] == "away"
    assert alice.post("/inbox/presence", {"status": "online"}).json["manual"] is False
    assert alice.post("/inbox/heartbeat", {"idle": "1"}).json["status"] == "away"
    assert _presence(run_in_tm, alice.id) == ("away", False, True)


def test_sound_toggle_and_answer_formats(make_staff, run_in_tm):
    alice = make_staff()
    partial = alice.post("/inbox/presence", {"sound": "off"}, htmx=True)
    assert partial.status_int == 200 and 'data-sound="0"' in partial.text
    assert 'id="presence"' in partial.text and "Sound: off" in partial.text
    assert _presence(run_in_tm, alice.id) == ("online", False, False)
    plain = alice.post("/inbox/presence", {"status": "away", "csrf_token": alice.csrf}, json_=False)
    assert plain.status_int == 303 and plain.headers["Location"].endswith("/inbox?done=presence")
    assert "Your status was saved." in alice.get("/inbox?done=presence").text
    assert _presence(run_in_tm, alice.id) == ("away", True, False)
    assert alice.post("/inbox/presence", {"sound": "loud"}).status_int == 400


def test_someone_available_follows_presence(make_staff, run_in_tm, site):
    from asthron.accounts import presence
    from asthron.accounts.models import StaffPresence
    from asthron.sites.models import Site

    def available(db):
        return bool(presence.online_staff(db))

    alice = make_staff()
    assert run_in_tm(available) is False
    alice.post("/inbox/heartbeat", {"idle": "0"})
    assert run_in_tm(available) is True
    alice.post("/inbox/presence", {"status": "away"})
    assert run_in_tm(available) is False
    alice.post("/inbox/presence", {"status": "online"})

    def silent_tab(db):
        db.get(StaffPresence, alice.id).last_seen_at -= dt.timedelta(minutes=5)

    run_in_tm(silent_tab)
    assert run_in_tm(available) is False
    alice.post("/inbox/heartbeat", {"idle": "0"})
    from asthron.sites.availability import availability

    now = run_in_tm(lambda db: availability(db, db.get(Site, site["id"])))
    # Someone is online, so whether someone is available follows the business hours alone.
    assert now.staff_online is now.open_now
    assert now.someone_available is now.open_now
