"""The AI lead note: written by a background job after capture and after the conversation
closes; extractive with the built-in provider, structured (and validated) with a model; a
person's edit is never overwritten except by Regenerate. On both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from asthron.assistant.model_tasks import ModelTasks
from asthron.audit.service import Actor
from asthron.leads import capture, notes, tasks
from asthron.leads.models import Lead, LeadActivity, QualificationAnswer, QualificationQuestion

GOOD = {
    "who": "Dana Scully from the FBI, a returning visitor.",
    "wants": "A quote for 20 office chairs ![x](https://evil.example/pixel.png) delivered in May.",
    "open_questions": ["Which chair model?", "Delivery address?"],
    "next_step": "Email dana@example.com a quote today.",
}


@pytest.fixture
def chat(run_in_tm, site):
    """A conversation with the visitor's messages, not yet linked to any lead."""
    from asthron.conversations import service as conversations
    from asthron.sites.models import Site

    def arrange(db):
        visitor, _ = conversations.start_visitor(db, db.get(Site, site["id"]), "UA", None)
        conversation, _ = conversations.open_conversation(db, visitor)
        conversations.append_event(
            db, conversation, "visitor_message", "Hi, I need a quote for 20 office chairs."
        )
        conversations.append_event(db, conversation, "assistant_message", "Happy to help!")
        conversations.append_event(db, conversation, "visitor_message", "Delivery in May please")
        return conversation.id, visitor.id

    conversation_id, visitor_id = run_in_tm(arrange)
    return {"conversation_id": conversation_id, "visitor_id": visitor_id, "site": site}


def capture_in(run_in_tm, chat, **fields):
    from asthron.conversations.models import Conversation, Visitor

    def run(db):
        claim = capture.LeadClaim.parse(
            fields or {"name": "Dana", "email": "dana@example.com"}, "US"
        )
        result = capture.capture(
            db,
            claim,
            actor=Actor(label="visitor"),
            site_id=chat["site"]["id"],
            conversation=db.get(Conversation, chat["conversation_id"]),
            visitor=db.get(Visitor, chat["visitor_id"]),
            source="chat",
        )
        return result.lead.id

    return run_in_tm(run)


def lead_of(run_in_tm, lead_id) -> Lead:
    return run_in_tm(lambda db: db.get(Lead, lead_id))


def note_activity(run_in_tm, lead_id):
    return run_in_tm(
        lambda db: [
            (a.body, a.data.get("provider"))
            for a in db.scalars(
                sa.select(LeadActivity)
                .where(LeadActivity.lead_id == lead_id, LeadActivity.kind == "ai_note")
                .order_by(LeadActivity.id)
            )
        ]
    )


def close_conversation(run_in_tm, conversation_id):
    from asthron.conversations import handoff
    from asthron.conversations.models import Conversation

    run_in_tm(
        lambda db: handoff.close(db, Actor.cli(), db.get(Conversation, conversation_id), None)
    )


def test_builtin_note_after_capture_is_extractive_and_cites_the_conversation(run_in_tm, chat):
    run_in_tm(
        lambda db: db.add(
            QualificationQuestion(key="budget", text="What budget do you have?", kind="number")
        )
    )
    lead_id = capture_in(run_in_tm, chat)
    lead = lead_of(run_in_tm, lead_id)
    conversation_id = chat["conversation_id"]
    assert lead.ai_note_conversation_id == conversation_id
    assert not lead.ai_note_edited
    assert lead.ai_note.splitlines() == [
        "Who: Dana — dana@example.com; came through Shop",
        "Wants: “Hi, I need a quote for 20 office chairs.” Latest: “Delivery in May please”",
        "Open questions:",
        "- What budget do you have?",
        "Next step: Follow up: email dana@example.com.",
        f"From conversation #{conversation_id}",
    ]
    assert note_activity(run_in_tm, lead_id) == [
        (f"AI note written by the built-in writer from conversation #{conversation_id}.", "builtin")
    ]


def test_the_note_is_rewritten_when_the_conversation_closes(run_in_tm, chat):
    from asthron.conversations import service as conversations
    from asthron.conversations.models import Conversation

    lead_id = capture_in(run_in_tm, chat)

    def more(db):
        conversation = db.get(Conversation, chat["conversation_id"])
        conversations.append_event(db, conversation, "visitor_message", "Make it 25 chairs")
        question = QualificationQuestion(key="budget", text="Budget?", kind="number")
        db.add(question)
        db.flush()
        db.add(QualificationAnswer(lead_id=lead_id, question_id=question.id, value={"v": 4000}))

    run_in_tm(more)
    close_conversation(run_in_tm, chat["conversation_id"])
    note = lead_of(run_in_tm, lead_id).ai_note
    assert "Latest: “Make it 25 chairs”" in note
    assert "Answers: budget: 4000." in note
    assert "Open questions: none." in note
    assert len(note_activity(run_in_tm, lead_id)) == 2


def test_closing_a_conversation_without_a_lead_queues_nothing(run_in_tm, chat, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks, "note_after_commit", lambda *a, **k: queued.append(a))
    close_conversation(run_in_tm, chat["conversation_id"])
    assert queued == []
    assert run_in_tm(lambda db: db.scalar(sa.select(sa.func.count(Lead.id)))) == 0


def test_a_model_writes_a_structured_note(run_in_tm, chat, monkeypatch):
    calls = []

    def fake_structured(self, db, *, purpose, instruction, material, schema, conversation_id):
        calls.append((conversation_id, purpose, instruction, material, schema))
        return dict(GOOD)

    monkeypatch.setattr(ModelTasks, "structured", fake_structured)
    lead_id = capture_in(run_in_tm, chat)
    conversation_id = chat["conversation_id"]
    [(called_id, purpose, instruction, transcript, schema)] = calls
    assert (called_id, purpose, schema) == (conversation_id, "lead_note", notes.NOTE_SCHEMA)
    assert "never invent" in instruction
    assert "visitor: Hi, I need a quote for 20 office chairs." in transcript
    assert "email: dana@example.com" in transcript
    lead = lead_of(run_in_tm, lead_id)
    assert lead.ai_note.splitlines() == [
        "Who: Dana Scully from the FBI, a returning visitor.",
        "Wants: A quote for 20 office chairs [image removed] delivered in May.",
        "Open questions:",
        "- Which chair model?",
        "- Delivery address?",
        "Next step: Email dana@example.com a quote today.",
        f"From conversation #{conversation_id}",
    ]
    assert note_activity(run_in_tm, lead_id)[-1][1] == "model"


@pytest.mark.parametrize(
    "bad",
    [
        "a string",
        ["a", "list"],
        {**GOOD, "who": ""},
        {**GOOD, "wants": 42},
        {**GOOD, "open_questions": "none"},
        {**GOOD, "open_questions": ["x"] * 7},
        {**GOOD, "next_step": "x" * 301},
        {**GOOD, "extra": "field"},
        {k: v for k, v in GOOD.items() if k != "next_step"},
        {**GOOD, "who": "   "},
    ],
)
def test_invalid_model_output_is_never_saved(run_in_tm, chat, monkeypatch, bad):
    """No note yet: the built-in note is written instead. A note already there: kept."""
    monkeypatch.setattr(ModelTasks, "structured", lambda self, *a, **k: bad)
    lead_id = capture_in(run_in_tm, chat)
    lead = lead_of(run_in_tm, lead_id)
    assert lead.ai_note.startswith("Who: Dana — dana@example.com")
    assert note_activity(run_in_tm, lead_id)[-1][1] == "builtin"
    for text in ("42", "extra", "field", "x" * 301):
        assert text not in lead.ai_note

    run_in_tm(lambda db: db.execute(sa.update(Lead).values(ai_note="The old note.")))
    close_conversation(run_in_tm, chat["conversation_id"])
    assert lead_of(run_in_tm, lead_id).ai_note == "The old note."
    assert len(note_activity(run_in_tm, lead_id)) == 1


def test_a_model_error_keeps_the_old_note(run_in_tm, chat, monkeypatch):
    lead_id = capture_in(run_in_tm, chat)
    original = lead_of(run_in_tm, lead_id).ai_note

    def broken(self, *args, **kwargs):
        raise RuntimeError("provider exploded")

    monkeypatch.setattr(ModelTasks, "structured", broken)
    close_conversation(run_in_tm, chat["conversation_id"])
    assert lead_of(run_in_tm, lead_id).ai_note == original


def test_a_person_edited_note_is_not_overwritten_except_by_regenerate(run_in_tm, chat, monkeypatch):
    lead_id = capture_in(run_in_tm, chat)

    def edit(db):
        from asthron.leads import edits

        edits.edit_ai_note(db, Actor(label="staff@example.com"), db.get(Lead, lead_id), "Mine.")

    run_in_tm(edit)
    monkeypatch.setattr(ModelTasks, "structured", lambda self, *a, **k: dict(GOOD))
    close_conversation(run_in_tm, chat["conversation_id"])
    lead = lead_of(run_in_tm, lead_id)
    assert (lead.ai_note, lead.ai_note_edited) == ("Mine.", True)
    # The job on its own respects the edit too.
    tasks.write_lead_note.call_local(lead_id, chat["conversation_id"])
    assert lead_of(run_in_tm, lead_id).ai_note == "Mine."

    def regenerate(db):
        from asthron.leads import edits

        edits.request_regenerate(db, Actor(label="staff@example.com"), db.get(Lead, lead_id))

    run_in_tm(regenerate)
    lead = lead_of(run_in_tm, lead_id)
    assert not lead.ai_note_edited
    assert lead.ai_note.startswith("Who: Dana Scully from the FBI")


def test_a_note_cites_only_a_conversation_of_its_lead(run_in_tm, chat, site):
    from asthron.conversations import service as conversations
    from asthron.sites.models import Site

    lead_id = capture_in(run_in_tm, chat)

    def stranger(db):
        visitor, _ = conversations.start_visitor(db, db.get(Site, site["id"]), "UA", None)
        conversation, _ = conversations.open_conversation(db, visitor)
        conversations.append_event(db, conversation, "visitor_message", "Someone else's secret")
        return conversation.id

    other = run_in_tm(stranger)
    tasks.write_lead_note.call_local(lead_id, other)
    lead = lead_of(run_in_tm, lead_id)
    assert lead.ai_note_conversation_id == chat["conversation_id"]
    assert "secret" not in lead.ai_note
    assert tasks.write_lead_note.call_local(999999) is None


def test_a_lead_without_a_conversation_gets_a_note_without_a_citation(run_in_tm):
    def run(db):
        claim = capture.LeadClaim.parse(
            {"email": "solo@example.com", "phone": "+12025550143"}, "US"
        )
        return capture.capture(db, claim, actor=Actor.cli(), site_id=None).lead.id

    lead = lead_of(run_in_tm, run_in_tm(run))
    assert lead.ai_note.splitlines()[0] == "Who: Name not given — solo@example.com, +12025550143"
    assert "Wants: Not said yet." in lead.ai_note
    assert "From conversation" not in lead.ai_note
    assert lead.ai_note_conversation_id is None
