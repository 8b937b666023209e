"""Demo content for ``asthron setup --demo``: a site that the /demo page embeds and a few
knowledge-base articles, so a newcomer sees the whole loop at once."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from asthron import audit
from asthron.knowledge import service as knowledge
from asthron.sites import service as sites

DEMO_ARTICLES = [
    (
        "Opening hours",
        "We are open Monday to Friday from 9:00 to 17:00, and on Saturday from 10:00 to "
        "14:00. We are closed on Sundays and public holidays.",
    ),
    (
        "Delivery and shipping",
        "## Delivery times\n\nOrders placed before 14:00 ship the same working day. Delivery "
        "takes one to three working days.\n\n## Costs\n\nDelivery is free for orders over "
        "50 euros; below that it costs 4.90 euros.",
    ),
    (
        "Returns and refunds",
        "You can return unused items within 30 days for a full refund. Start a return from "
        "your order confirmation email; refunds reach your account within five working days.",
    ),
    (
        "Contact",
        "Call us on +1 202 555 0143 during opening hours or write to hello@example.com. "
        "We answer emails within one working day.",
    ),
]


def demo_origins(public_url: str) -> list[str]:
    """The app's own origin, in the spellings a browser may use, so /demo works."""
    parts = urlsplit(public_url)
    port = f":{parts.port}" if parts.port else ""
    hosts = {parts.hostname or "127.0.0.1"}
    if hosts & {"127.0.0.1", "localhost"}:
        hosts |= {"127.0.0.1", "localhost"}
    return sorted(f"{parts.scheme}://{host}{port}" for host in hosts)


DEMO_SITE_NAME = "Demo shop"


def _is_loopback_demo_link(url: str) -> bool:
    """A privacy link an earlier ``setup --demo`` wrote (``http://127.0.0.1:6543/demo``)."""
    parts = urlsplit(url)
    return parts.hostname in {"127.0.0.1", "localhost"} and parts.path == "/demo"


def _follow_public_url(db: Session, actor, public_url: str) -> bool:
    """Make the demo site allow the app's current address, for a run on another port or
    host than the one setup first saw; its old privacy link (the /demo page at the old
    address) gives way to the privacy page Asthron serves at whatever address is used."""
    site = next((s for s in sites.list_sites(db) if s.name == DEMO_SITE_NAME), None)
    if site is None:
        return False
    origins = list(site.allowed_origins or [])
    missing = [o for o in demo_origins(public_url) if o not in origins]
    stale_link = bool(site.privacy_url) and _is_loopback_demo_link(site.privacy_url)
    if not missing and not stale_link:
        return False
    data = sites.SiteInput(
        site.name,
        origins + missing,
        title=site.title,
        greeting=site.greeting,
        accent_color=site.accent_color,
        position=site.position,
        language=site.language,
        timezone=site.timezone,
        business_hours=site.business_hours,
        holidays=site.holidays,
        privacy_notice=site.privacy_notice,
        privacy_url="" if stale_link else site.privacy_url,
    )
    sites.update_site(db, actor, site, data)
    return True


def seed_demo(db: Session, public_url: str) -> list[str]:
    """Create the demo site and articles unless they exist; returns what was created or
    changed."""
    created = []
    actor = audit.Actor.cli()
    if not sites.list_sites(db):
        sites.create_site(
            db,
            actor,
            sites.SiteInput(
                DEMO_SITE_NAME,
                demo_origins(public_url),
                title="Chat with Demo shop",
                greeting="Hi! Ask me about opening hours, delivery or returns.",
                privacy_notice=(
                    "This chat is stored so our team can follow up. Don't share passwords or "
                    "payment details here."
                ),
                # Empty: the widget links to /privacy/<site key> at the address it was
                # loaded from (sites/config.py), so the link follows any port or host.
                privacy_url="",
            ),
        )
        created.append("created the demo site")
    elif _follow_public_url(db, actor, public_url):
        created.append(f"allowed {public_url} on the demo site")
    if not knowledge.list_articles(db):
        for title, body in DEMO_ARTICLES:
            knowledge.create_article(db, actor, knowledge.ArticleInput(title, body, ["demo"]))
        created.append(f"created {len(DEMO_ARTICLES)} demo articles")
    return created
