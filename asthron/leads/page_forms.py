"""What the lead pages share: their notices and reading posted fields."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPBadRequest

from asthron.forms import field
from asthron.leads.validation import LeadInputError

NOTICES = {
    "leads_updated": "The selected leads were updated.",
    "lead_saved": "The lead was saved.",
    "note_added": "The note was added.",
    "proposal_accepted": "The proposed value was accepted.",
    "proposal_rejected": "The proposed value was rejected.",
    "ai_note_saved": "Your edit of the AI note was saved; it is kept until someone regenerates.",
    "ai_note_regenerating": "The AI note is being written again.",
    "settings_saved": "The lead settings were saved.",
    "rules_saved": "The qualification rules were saved.",
    "question_saved": "The question was saved.",
    "form_saved": "The lead form was saved.",
}


def notice(request) -> str | None:
    values = request.GET.getall("notice")
    return NOTICES.get(values[0]) if len(values) == 1 else None


def form_getter(request):
    """``get(name, max_length)`` over the posted form; unreadable input is a LeadInputError."""

    def get(name: str, max_length: int) -> str:
        try:
            return field(request, name, max_length)
        except HTTPBadRequest as exc:
            raise LeadInputError(exc.detail, name) from None

    return get
