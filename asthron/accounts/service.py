"""Accounts: users, login with throttling, server-side sessions, team changes, invitations.

Functions take a database session and settings and know nothing of requests. Each state change
writes an audit entry through the actor it is given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from asthron import audit
from asthron.accounts import passwords
from asthron.accounts.models import ROLES, THEMES, LoginFailure, User, UserSession
from asthron.audit.service import Actor
from asthron.db import utcnow
from asthron.security.permissions import MANAGEABLE_ROLES
from asthron.security.tokens import new_token, token_hash
from asthron.settings import AppSettings
from asthron.text import has_controls, single_line

TOUCH_INTERVAL = dt.timedelta(seconds=60)
DEVICE_COOKIE_LIFETIME = 90 * 24 * 3600


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message is safe to show."""


class LoginFailed(AccountError):
    def __init__(self):
        super().__init__("Email or password is incorrect.")


class LoginThrottled(AccountError):
    def __init__(self):
        super().__init__("Too many failed attempts. Wait a few minutes and try again.")


class NotAllowed(AccountError):
    pass


def normalize_email(email) -> str:
    """A valid address in the one form we store and compare: syntax checked by
    email-validator (no DNS lookups), which refuses control characters, unsafe Unicode,
    display names, quoted local parts and IP literals; then lower-cased, as dedupe and the
    identity signature expect."""
    if not isinstance(email, str) or len(email) > 320:
        raise AccountError("Enter a valid email address.")
    try:
        checked = validate_email(email.strip(" \t\r\n"), check_deliverability=False)
    except EmailNotValidError:
        raise AccountError("Enter a valid email address.") from None
    # RFC 5321's limit, which email-validator leaves to the caller.
    if len(checked.local_part.encode()) > 64:
        raise AccountError("Enter a valid email address.")
    return checked.normalized.lower()


def validate_role(role) -> str:
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    return role


def display_name_for(name, email: str) -> str:
    # Printed by `asthron users list` and shown to the team: one line, no control characters.
    name = single_line(name or "") if isinstance(name, str) else ""
    if len(name) > 120:
        raise AccountError("The display name is too long (120 characters at most).")
    return name or email.split("@")[0]


def get_user(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def find_user_by_email(db: Session, email: str) -> User | None:
    try:
        email = normalize_email(email)
    except AccountError:
        # An account created before emails were checked this strictly (say at a ".local"
        # domain) can still sign in; a lookup stores nothing.
        if not isinstance(email, str) or has_controls(email) or len(email) > 320:
            return None
        email = email.strip().lower()
    return db.scalar(sa.select(User).where(User.email == email))


def list_users(db: Session) -> list[User]:
    return list(db.scalars(sa.select(User).order_by(User.role, User.email)))


def count_owners(db: Session) -> int:
    return db.scalar(
        sa.select(sa.func.count()).where(User.role == "owner", User.is_active.is_(True))
    )


def create_user(
    db: Session,
    actor: Actor,
    email: str,
    role: str,
    password: str | None,
    display_name: str | None = None,
) -> User:
    email = normalize_email(email)
    role = validate_role(role)
    if password is not None:
        passwords.check_policy(password, email)
    # A savepoint, so the unique index decides a race and the caller's transaction survives.
    user = User(
        email=email,
        display_name=display_name_for(display_name, email),
        role=role,
        password_hash=passwords.hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
    )
    try:
        with db.begin_nested():
            db.add(user)
    except sa.exc.IntegrityError:
        raise AccountError(f"A user with the email {email} already exists.") from None
    audit.record(db, actor, "user.create", "user", user.id, {"email": email, "role": role})
    return user


# -- login and throttling -------------------------------------------------------------------


def account_key(email: str) -> str:
    return hashlib.sha256(str(email).strip().lower().encode()).hexdigest()


def device_cookie_value(secret: str, email: str, issued: int | None = None) -> str:
    """A cookie that marks a browser where this account logged in successfully.

    Following OWASP's device-cookie scheme, the per-account failure limit does not apply to such
    a browser, so an attacker hammering an account cannot lock its real user out.
    """
    issued = int(time.time()) if issued is None else issued
    mac = hmac.new(secret.encode(), f"{account_key(email)}:{issued}".encode(), "sha256")
    return f"{issued}.{mac.hexdigest()}"


def device_cookie_valid(secret: str, email: str, value: str | None) -> bool:
    if not value or not isinstance(value, str) or "." not in value:
        return False
    issued_text, _, _mac = value.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    if time.time() - issued > DEVICE_COOKIE_LIFETIME:
        return False
    return hmac.compare_digest(device_cookie_value(secret, email, issued), value)


def _recent_failures(db: Session, column, value: str, settings: AppSettings) -> int:
    since = utcnow() - dt.timedelta(seconds=settings.login_failure_window)
    return db.scalar(
        sa.select(sa.func.count())
        .select_from(LoginFailure)
        .where(column == value, LoginFailure.created_at >= since)
    )


def authenticate(
    db: Session,
    settings: AppSettings,
    email,
    password,
    ip_address: str,
    trusted_device: bool = False,
) -> User:
    """Check a login. Raises LoginThrottled or LoginFailed with messages that never say
    whether the email exists."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise LoginFailed()
    key = account_key(email)
    ip_failures = _recent_failures(db, LoginFailure.ip_address, ip_address, settings)
    account_failures = _recent_failures(db, LoginFailure.account_key, key, settings)
    # A browser holding this account's device cookie has logged in as it before: neither an
    # attacker hammering the account nor one sharing the office's NAT address locks it out.
    throttled = (
        ip_failures >= settings.login_max_failures_per_ip
        or account_failures >= settings.login_max_failures_per_account
    )
    if throttled and not trusted_device:
        audit.record(
            db, Actor(label="anonymous", ip_address=ip_address), "login.throttled", summary={}
        )
        raise LoginThrottled()

    user = find_user_by_email(db, email)
    password_ok = passwords.verify_password(user.password_hash if user else None, password)
    if not (user and password_ok and user.is_active):
        db.add(LoginFailure(account_key=key, ip_address=ip_address))
        audit.record(
            db,
            Actor(label=user.email if user else "anonymous", ip_address=ip_address),
            "login.failed",
            "user" if user else None,
            user.id if user else None,
            {"reason": "inactive" if (user and password_ok) else "bad credentials"},
        )
        raise LoginFailed()

    if passwords.needs_rehash(user.password_hash):
        # The hashing parameters were raised since this hash was made: upgrade it now, while
        # the plain password is at hand.
        user.password_hash = passwords.hash_password(password)
        audit.record(
            db,
            Actor(label=user.email, user_id=user.id, ip_address=ip_address),
            "user.password_rehash",
            "user",
            user.id,
            {},
        )
    user.last_login_at = utcnow()
    db.execute(sa.delete(LoginFailure).where(LoginFailure.account_key == key))
    return user


# -- sessions -------------------------------------------------------------------------------


@dataclass
class NewSession:
    token: str
    session: UserSession


def start_session(db: Session, user: User, ip_address: str | None, user_agent: str | None):
    token = new_token()
    session = UserSession(
        token_hash=token_hash(token),
        user=user,
        csrf_token=secrets.token_urlsafe(32),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:300],
    )
    db.add(session)
    db.flush()
    audit.record(
        db,
        Actor(label=user.email, user_id=user.id, ip_address=ip_address),
        "login.success",
        "user",
        user.id,
        {"session": session.id},
    )
    return NewSession(token=token, session=session)


def load_session(db: Session, settings: AppSettings, token) -> UserSession | None:
    """The live session for a cookie token, or None. Expired sessions are closed on sight."""
    if not isinstance(token, str) or not (20 <= len(token) <= 100):
        return None
    session = db.scalar(sa.select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if session is None or session.revoked_at is not None:
        return None
    now = utcnow()
    if not session.user.is_active:
        return None
    if now - session.created_at > dt.timedelta(seconds=settings.session_absolute_timeout):
        session.revoked_at, session.revoked_reason = now, "absolute timeout"
        return None
    if now - session.last_seen_at > dt.timedelta(seconds=settings.session_idle_timeout):
        session.revoked_at, session.revoked_reason = now, "idle timeout"
        return None
    if now - session.last_seen_at > TOUCH_INTERVAL:
        session.last_seen_at = now
    return session


def active_sessions(db: Session, user: User, settings: AppSettings) -> list[UserSession]:
    now = utcnow()
    rows = db.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc())
    )
    return [
        s
        for s in rows
        if now - s.created_at <= dt.timedelta(seconds=settings.session_absolute_timeout)
        and now - s.last_seen_at <= dt.timedelta(seconds=settings.session_idle_timeout)
    ]


def get_own_session(db: Session, user: User, session_id: int) -> UserSession | None:
    """One of the user's own sessions; another user's session id is simply not found."""
    return db.scalar(
        sa.select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
    )


def revoke_session(db: Session, actor: Actor, session: UserSession, reason: str) -> None:
    if session.revoked_at is None:
        session.revoked_at, session.revoked_reason = utcnow(), reason
        audit.record(
            db,
            actor,
            "session.revoke",
            "user",
            session.user_id,
            {"session": session.id, "reason": reason},
        )


def revoke_all_sessions(
    db: Session, actor: Actor, user: User, reason: str, keep_session_id: int | None = None
) -> int:
    query = (
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    if keep_session_id is not None:
        query = query.where(UserSession.id != keep_session_id)
    count = db.execute(query).rowcount
    if count:
        audit.record(
            db, actor, "session.revoke_all", "user", user.id, {"count": count, "reason": reason}
        )
    return count


def check_can_manage_sessions(acting_role: str, member: User) -> None:
    """Owners and admins may see and end other people's sessions; only owners an owner's."""
    if member.role not in MANAGEABLE_ROLES.get(acting_role, frozenset()):
        raise NotAllowed("You cannot manage this member's sessions.")


def member_sessions(
    db: Session, settings: AppSettings, acting_role: str, member: User
) -> list[UserSession]:
    check_can_manage_sessions(acting_role, member)
    return active_sessions(db, member, settings)


def revoke_member_sessions(
    db: Session, actor: Actor, acting_role: str, member: User, keep_session_id: int | None
) -> int:
    check_can_manage_sessions(acting_role, member)
    return revoke_all_sessions(db, actor, member, "revoked by admin", keep_session_id)


# -- password and team changes --------------------------------------------------------------


def change_password(
    db: Session, actor: Actor, user: User, current: str, new: str, keep_session_id: int | None
) -> None:
    if not passwords.verify_password(user.password_hash, current or ""):
        raise AccountError("The current password is incorrect.")
    set_password(db, actor, user, new, keep_session_id)


def set_password(
    db: Session, actor: Actor, user: User, new: str, keep_session_id: int | None = None
) -> None:
    passwords.check_policy(new, user.email)
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    audit.record(db, actor, "user.password_change", "user", user.id, {})
    # A password change ends every other session (the Chatwoot CVE-2021-3740 class).
    revoke_all_sessions(db, actor, user, "password changed", keep_session_id)


def check_can_manage(acting_role: str, target: User, new_role: str | None = None) -> None:
    allowed = MANAGEABLE_ROLES.get(acting_role, frozenset())
    if target.role not in allowed or (new_role is not None and new_role not in allowed):
        raise NotAllowed("You cannot change this member's role or access.")


def _check_not_last_owner(db: Session, target: User) -> None:
    if target.role != "owner" or not target.is_active:
        return
    # The active owners' rows are locked (PostgreSQL), so two owners demoting each other at
    # the same moment cannot leave the team without one.
    owners = db.scalars(
        sa.select(User.id).where(User.role == "owner", User.is_active.is_(True)).with_for_update()
    ).all()
    if len(owners) <= 1:
        raise AccountError("There must always be at least one active owner.")


def set_theme(db: Session, actor: Actor, user: User, theme) -> None:
    """How the dashboard looks for this user: "auto" follows their system's light or dark
    preference, "light" and "dark" override it."""
    if theme not in THEMES:
        raise AccountError("Choose automatic, light or dark.")
    if user.theme == theme:
        return
    old, user.theme = user.theme, theme
    audit.record(db, actor, "user.theme_change", "user", user.id, {"from": old, "to": theme})


def set_role(db: Session, actor: Actor, acting_role: str, target: User, role: str) -> None:
    role = validate_role(role)
    check_can_manage(acting_role, target, role)
    if target.role == role:
        return
    if role != "owner":
        _check_not_last_owner(db, target)
    old = target.role
    target.role = role
    audit.record(db, actor, "user.set_role", "user", target.id, {"from": old, "to": role})


def deactivate(db: Session, actor: Actor, acting_role: str, target: User) -> None:
    check_can_manage(acting_role, target)
    if actor.user_id == target.id:
        raise AccountError("You cannot deactivate yourself.")
    _check_not_last_owner(db, target)
    if not target.is_active:
        return
    target.is_active = False
    audit.record(db, actor, "user.deactivate", "user", target.id, {"email": target.email})
    revoke_all_sessions(db, actor, target, "deactivated")


def reactivate(db: Session, actor: Actor, acting_role: str, target: User) -> None:
    check_can_manage(acting_role, target)
    if target.is_active:
        return
    target.is_active = True
    audit.record(db, actor, "user.reactivate", "user", target.id, {"email": target.email})
