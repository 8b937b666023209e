"""Dashboard → Knowledge → Gaps (what visitors asked that the assistant could not answer) and
→ Synonyms (the owner's own)."""

from __future__ import annotations

from pyramid.view import view_config

from asthron.forms import FormError, notice, parse_form, parse_id, redirect
from asthron.knowledge import gaps, synonyms
from asthron.knowledge.forms import SynonymsForm
from asthron.security.permissions import Permission

# The page shows at most gaps.PAGE_ROWS gaps, so a form posts no more ids than that.
MAX_DISMISS = gaps.PAGE_ROWS


@view_config(
    route_name="knowledge.gaps",
    renderer="knowledge/gaps.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def gap_list(request):
    return {"groups": gaps.open_groups(request.db), "notice": notice(request)}


@view_config(
    route_name="knowledge.gaps_dismiss",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def gap_dismiss(request):
    # A group's checkbox holds every gap id the page showed for it: "12,15,18".
    posted = ",".join(v for v in request.POST.getall("gap_id") if isinstance(v, str))
    ids = [i for i in (parse_id(v.strip()) for v in posted.split(",")) if i is not None]
    gaps.dismiss(request.db, request.actor, ids[:MAX_DISMISS])
    return redirect(request, "knowledge.gaps", "gaps_dismissed")


def _synonyms_page(request, text: str, error: str | None = None, status: int = 200):
    request.response.status_code = status
    return {"text": text, "error": error, "notice": notice(request)}


@view_config(
    route_name="knowledge.synonyms",
    renderer="knowledge/synonyms.html",
    permission=Permission.KNOWLEDGE,
    request_method="GET",
)
def synonyms_page(request):
    return _synonyms_page(request, synonyms.as_text(request.db))


@view_config(
    route_name="knowledge.synonyms",
    renderer="knowledge/synonyms.html",
    permission=Permission.KNOWLEDGE,
    request_method="POST",
)
def synonyms_save(request):
    try:
        form = parse_form(SynonymsForm, request.POST)
        synonyms.replace_all(request.db, request.actor, form.synonyms)
    except FormError as exc:
        return _synonyms_page(request, exc.values.get("synonyms", ""), exc.message, 400)
    except synonyms.SynonymError as exc:
        return _synonyms_page(request, form.synonyms, str(exc), 400)
    return redirect(request, "knowledge.synonyms", "synonyms_saved")
