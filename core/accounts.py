"""HR accounts: users with a role, argon2 passwords, bearer tokens and one-time sign-in links.

Who may do what is decided in one place at the edge (``web.api.access``); this module only
answers "who is this?" — from a password, a token or a link — and keeps the accounts.
Tokens are random (32 bytes), shown once and stored as their SHA-256: a leaked table gives
no usable credential, and a high-entropy secret needs no slow hash. Passwords, chosen by
people, get argon2id (argon2-cffi's defaults, RFC 9106's second recommendation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session as Db

from core import jobs
from core.config import get_settings
from core.models import ApiToken, User, utcnow

ROLES = ("owner", "member", "viewer", "analyst")
TOKEN_PREFIX = "prl_"
LOGIN_TOKEN_TTL = timedelta(hours=12)  # the bearer token a sign-in returns, for scripts
LINK_TTL = timedelta(hours=24)  # a one-time sign-in link
MIN_PASSWORD = 12
# sign-in attempts in a window, then 429: per address (a success clears it), and per client
# address (a guesser trying many accounts)
LOGIN_FAILURES, CLIENT_ATTEMPTS, LOGIN_WINDOW = 10, 100, 15 * 60

_hasher = PasswordHasher()
# compared against when the address is unknown, so a wrong address costs what a wrong
# password does (no timing oracle for which addresses have accounts)
_DUMMY_HASH = _hasher.hash("not a password anyone has")


class AccountError(ValueError):
    """A rule of accounts broken (weak password, duplicate email, the last owner)."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this address lately."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: an HR user, or the bootstrap ADMIN_API_TOKEN (an owner)."""

    role: str
    user_id: int | None = None
    email: str = ""
    token_id: int | None = None

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        return self.email or "admin-token"


BOOTSTRAP = Principal(role="owner")


def normal_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(s: Db, *, email: str, role: str, name: str = "",
                password: str | None = None) -> User:
    if role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}")
    email = normal_email(email)
    if s.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"email: an account for {email} exists")
    user = User(email=email, name=name.strip(), role=role,
                password_hash=hash_password(password) if password else None)
    s.add(user)
    s.flush()
    return user


def update_user(s: Db, user: User, *, role: str | None = None, name: str | None = None,
                email: str | None = None, password: str | None = None,
                active: bool | None = None) -> None:
    """Change an account. The last active owner cannot be demoted or disabled (nobody
    could manage accounts any more)."""
    if role is not None and role not in ROLES:
        raise AccountError(f"role: one of {', '.join(ROLES)}")
    losing_owner = user.role == "owner" and user.active and (
        (role is not None and role != "owner") or active is False)
    if losing_owner and _other_owners(s, user.id) == 0:
        raise AccountError("the last owner cannot be demoted or disabled: make another "
                           "owner first")
    if email is not None and normal_email(email) != user.email:
        email = normal_email(email)
        if s.scalar(select(User.id).where(User.email == email)) is not None:
            raise AccountError(f"email: an account for {email} exists")
        user.email = email
    # a new password, a new email, a disabled account or a changed role ends every
    # signed-in session and unspent link (a role change then takes effect at once)
    sign_out = password is not None or active is False or (
        role is not None and role != user.role) or (
        email is not None and normal_email(email) != user.email)
    if name is not None:
        user.name = name.strip()
    if role is not None:
        user.role = role
    if password is not None:
        user.password_hash = hash_password(password)
    if active is not None:
        user.active = active
    if sign_out:
        # a password is only ever set by an owner's reset (or a sign-in link): whoever held
        # the account may have made tokens, so those end too
        _sign_out_everywhere(s, user, personal=password is not None or not user.active)


def disable_user(s: Db, user: User) -> None:
    """Accounts are disabled, never deleted: the audit log keeps naming who did what."""
    update_user(s, user, active=False)


def _other_owners(s: Db, user_id: int) -> int:
    """Active owners but this one, their rows locked until the change commits: two owners
    demoting each other at once cannot leave none (SQLite serialises writers anyway)."""
    return len(s.scalars(select(User.id).where(
        User.role == "owner", User.active.is_(True), User.id != user_id)
        .with_for_update()).all())


def _sign_out_everywhere(s: Db, user: User, *, personal: bool) -> None:
    """Cookies carry the session version; sign-in tokens and links are revoked, and with
    ``personal`` the account's API tokens too."""
    user.session_version += 1
    kinds = ["login", "link", "personal"] if personal else ["login", "link"]
    s.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind.in_(kinds),
                                     ApiToken.revoked_at.is_(None))
              .values(revoked_at=utcnow()))


def issue_token(s: Db, user: User, *, kind: str, name: str = "",
                expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token: the row and the value, which is never stored and never shown again."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    if expires_at is None and kind == "login":
        expires_at = utcnow() + LOGIN_TOKEN_TTL
    if expires_at is None and kind == "link":
        expires_at = utcnow() + LINK_TTL
    row = ApiToken(user_id=user.id, kind=kind, name=name, digest=digest(value),
                   prefix=value[:len(TOKEN_PREFIX) + 4], expires_at=expires_at)
    s.add(row)
    s.flush()
    return row, value


def _live(s: Db, value: str, kinds: tuple[str, ...]) -> tuple[ApiToken, User] | None:
    if not value.startswith(TOKEN_PREFIX) or len(value) > 100:
        return None
    row = s.scalar(select(ApiToken).where(ApiToken.digest == digest(value)))
    if row is None or row.kind not in kinds or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = s.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return row, user


def principal_for_token(s: Db, value: str) -> Principal | None:
    """The user a bearer token (personal or sign-in) acts as, or None."""
    found = _live(s, value, ("personal", "login"))
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now  # at most a write a minute per token
    return Principal(role=user.role, user_id=user.id, email=user.email, token_id=row.id)


def principal_for_cookie(s: Db, user_id: int, version: int, token_id: int) -> Principal | None:
    """The user a browser's session cookie names, while its sign-in lasts: the cookie is
    tied to the sign-in's token row, so signing out (which revokes that row) ends it even
    where a copy of the cookie survives."""
    row = s.get(ApiToken, token_id)
    now = utcnow()
    if row is None or row.user_id != user_id or row.kind != "login" \
            or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        return None
    user = s.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return Principal(role=user.role, user_id=user.id, email=user.email, token_id=row.id)


def authenticate(s: Db, email: str, password: str, *, client: str = "") -> User | None:
    """The active user with this email and password, or None. Raises TooManyAttempts
    after LOGIN_FAILURES attempts in LOGIN_WINDOW for the address, or CLIENT_ATTEMPTS from
    one client address (counted in Redis, shared by every process). Each attempt is
    counted before the password is checked, so parallel guesses are counted too; a success
    clears the address's count."""
    email = normal_email(email)
    keys = {f"parley:login:{digest(email)}": LOGIN_FAILURES,
            f"parley:login-client:{digest(client)}": CLIENT_ATTEMPTS}
    pipe = jobs.connection().pipeline()
    for key in keys:
        pipe.set(key, 0, ex=LOGIN_WINDOW, nx=True)  # the window starts at the first attempt
        pipe.incr(key)
    counts = pipe.execute()[1::2]
    if any(n > limit for n, limit in zip(counts, keys.values(), strict=True)):
        raise TooManyAttempts(email)
    user = s.scalar(select(User).where(User.email == email))
    ok = _verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    if not ok or user is None or not user.active or not user.password_hash:
        return None
    jobs.connection().delete(next(iter(keys)))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def signin_url(value: str) -> str:
    """Where a sign-in link opens (web/signin.py), on this deployment's public address."""
    return f"{get_settings().effective_public_base_url.rstrip('/')}/signin/{value}"


def link_user(s: Db, value: str) -> User | None:
    """Whose unspent, unexpired sign-in link this is (None: it signs nobody in)."""
    found = _live(s, value, ("link",))
    return found[1] if found else None


def use_link(s: Db, value: str) -> User | None:
    """Spend a one-time sign-in link: its user, or None when unknown, used or expired."""
    found = _live(s, value, ("link",))
    if found is None:
        return None
    row, user = found
    # one UPDATE decides who spends it: two clicks at once sign in once
    spent = s.execute(update(ApiToken).where(ApiToken.id == row.id,
                                             ApiToken.revoked_at.is_(None))
                      .values(revoked_at=utcnow()))
    if spent.rowcount != 1:
        return None
    user.last_login_at = utcnow()
    return user
