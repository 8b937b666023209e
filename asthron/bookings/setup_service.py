"""Setting bookings up: services, staff members and resources, their hours, date overrides
and holidays. Every change is audited; a problem a person can fix is a ``FormError`` naming
the field, and nothing is changed then."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts.models import User
from asthron.audit.service import Actor
from asthron.bookings.models import BookingResource, BookingService, BookingServiceResource
from asthron.bookings.setup_forms import MAX_OVERRIDES, ResourceForm, ServiceForm
from asthron.forms import FormError
from asthron.sites.models import Site


def sites(db: Session) -> list[Site]:
    return list(db.scalars(sa.select(Site).order_by(Site.name, Site.id)))


def team(db: Session) -> list[User]:
    """Who a staff member can be linked to: active team members."""
    return list(
        db.scalars(sa.select(User).where(User.is_active.is_(True)).order_by(User.display_name))
    )


def services_of(db: Session, site_id: int) -> list[BookingService]:
    return list(
        db.scalars(
            sa.select(BookingService)
            .where(BookingService.site_id == site_id)
            .order_by(BookingService.name, BookingService.id)
        )
    )


def resources_of_site(db: Session, site_id: int) -> list[BookingResource]:
    return list(
        db.scalars(
            sa.select(BookingResource)
            .where(BookingResource.site_id == site_id)
            .order_by(BookingResource.name, BookingResource.id)
        )
    )


def serving(db: Session, service_id: int) -> set[int]:
    """The ids of the staff members and resources that serve a service."""
    return set(
        db.scalars(
            sa.select(BookingServiceResource.resource_id).where(
                BookingServiceResource.service_id == service_id
            )
        )
    )


def site_or_error(db: Session, site_id: int) -> Site:
    site = db.get(Site, site_id)
    if site is None:
        raise FormError({"site_id": "Choose a site."})
    return site


def check_resources(db: Session, site_id: int, resource_ids: list[int]) -> list[int]:
    if not resource_ids:
        return []
    found = set(
        db.scalars(
            sa.select(BookingResource.id).where(
                BookingResource.id.in_(resource_ids), BookingResource.site_id == site_id
            )
        )
    )
    if found != set(resource_ids):
        raise FormError({"resources": "Choose staff members or resources of this site."})
    return sorted(found)


def save_service(
    db: Session,
    actor: Actor,
    site: Site,
    form: ServiceForm,
    resource_ids: list[int],
    service: BookingService | None = None,
) -> BookingService:
    """Create (``service`` None) or update a service and who serves it."""
    resource_ids = check_resources(db, site.id, resource_ids)
    taken = db.scalar(
        sa.select(BookingService.id).where(
            BookingService.site_id == site.id,
            BookingService.slug == form.slug,
            BookingService.id != (service.id if service else -1),
        )
    )
    if taken is not None:
        raise FormError({"slug": "Another service of this site has that address name."})
    values = form.values()
    created = service is None
    if created:
        service = BookingService(site_id=site.id, **values)
        db.add(service)
        db.flush()
        changed = sorted(values)
    else:
        changed = sorted(k for k, v in values.items() if getattr(service, k) != v)
        for key, value in values.items():
            setattr(service, key, value)
    before = serving(db, service.id)
    if before != set(resource_ids):
        changed.append("resources")
        db.execute(
            sa.delete(BookingServiceResource).where(BookingServiceResource.service_id == service.id)
        )
        db.add_all(
            BookingServiceResource(service_id=service.id, resource_id=rid) for rid in resource_ids
        )
    db.flush()
    audit.record(
        db,
        actor,
        "booking_service.create" if created else "booking_service.update",
        "booking_service",
        service.id,
        {"site_id": site.id, "slug": service.slug, "changed": changed},
    )
    return service


def save_resource(
    db: Session,
    actor: Actor,
    site: Site,
    form: ResourceForm,
    resource: BookingResource | None = None,
) -> BookingResource:
    if form.user_id is not None:
        user = db.get(User, form.user_id)
        if user is None or not user.is_active:
            raise FormError({"user_id": "Choose an active team member."})
    values = {"name": form.name, "kind": form.kind, "user_id": form.user_id, "active": form.active}
    created = resource is None
    if created:
        # New staff follow the site's hours until they get their own.
        resource = BookingResource(site_id=site.id, overrides={}, **values)
        db.add(resource)
        db.flush()
        changed = sorted(values)
    else:
        changed = sorted(k for k, v in values.items() if getattr(resource, k) != v)
        for key, value in values.items():
            setattr(resource, key, value)
        db.flush()
    audit.record(
        db,
        actor,
        "booking_resource.create" if created else "booking_resource.update",
        "booking_resource",
        resource.id,
        {"site_id": site.id, "changed": changed},
    )
    return resource


def set_hours(
    db: Session, actor: Actor, resource: BookingResource, week: dict | None
) -> BookingResource:
    """Their own weekly hours, or None: the site's business hours."""
    resource.working_hours = week
    audit.record(
        db,
        actor,
        "booking_resource.hours",
        "booking_resource",
        resource.id,
        {"own_hours": week is not None, "days": sorted(week or {})},
    )
    return resource


def set_override(
    db: Session, actor: Actor, resource: BookingResource, day: dt.date, ranges: list
) -> BookingResource:
    """That date's hours instead of its weekday's ([] = closed all day)."""
    overrides = dict(resource.overrides or {})
    if day.isoformat() not in overrides and len(overrides) >= MAX_OVERRIDES:
        raise FormError({"date": f"At most {MAX_OVERRIDES} dates; remove past ones first."})
    overrides[day.isoformat()] = ranges
    resource.overrides = dict(sorted(overrides.items()))
    audit.record(
        db,
        actor,
        "booking_resource.override_set",
        "booking_resource",
        resource.id,
        {"date": day.isoformat(), "closed": not ranges},
    )
    return resource


def remove_override(
    db: Session, actor: Actor, resource: BookingResource, day: dt.date
) -> BookingResource:
    overrides = dict(resource.overrides or {})
    if overrides.pop(day.isoformat(), None) is None:
        raise FormError({"date": "That date has no special hours."})
    resource.overrides = overrides
    audit.record(
        db,
        actor,
        "booking_resource.override_remove",
        "booking_resource",
        resource.id,
        {"date": day.isoformat()},
    )
    return resource


def set_holidays(
    db: Session, actor: Actor, resource: BookingResource, holidays: list[str] | None
) -> BookingResource:
    """Their own holidays, or None: the site's."""
    resource.holidays = holidays
    audit.record(
        db,
        actor,
        "booking_resource.holidays",
        "booking_resource",
        resource.id,
        {"own_holidays": holidays is not None, "count": len(holidays or [])},
    )
    return resource
