"""Settings from the environment: the one place every variable is read and documented.

Unset variables fall back to the embedded default (SQLite and embedded Redis under
``var/``, offline interviewer). ``SECRET_KEY`` and ``ADMIN_API_TOKEN`` are generated once
and kept in ``var/secrets.json`` so restarts keep links and tokens valid.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(SystemExit):
    """Start-up stops with a message naming the offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    var_dir: Path = Field(ROOT / "var", description="Where the embedded default keeps its files.")
    database_url: str = Field("", description="SQLAlchemy URL; empty → SQLite in var/.")
    redis_url: str = Field("", description="Redis URL; empty → embedded Redis in var/.")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port for the web process.")
    public_base_url: str = Field("", description="Base URL people reach us at (links).")
    secret_key: str = Field("", description="Signs sessions and link tokens; generated if empty.")
    admin_api_token: str = Field("", description="Bearer token for /api/v1; generated if empty.")
    openai_api_key: str = Field("", description="Turns on the LLM interviewer.")
    openai_base_url: str = Field("", description="Any OpenAI-compatible server.")
    openai_model: str = Field("gpt-4o-mini", description="Model name for the LLM interviewer.")
    openai_timeout: float = Field(10.0, gt=0, le=120, description="Seconds per LLM call.")
    openai_insights_timeout: float = Field(
        60.0, gt=0, le=300, description="Seconds per insights LLM call (a map step writes "
                                        "about 1,500 tokens; the interviewer's are short).")
    slack_signing_secret: str = Field("", description="Verifies Slack requests.")
    slack_bot_token: str = Field("", description="xoxb- token for one workspace.")
    slack_client_id: str = Field("", description="With the secret: multi-workspace OAuth.")
    slack_client_secret: str = Field("", description="OAuth client secret.")
    slack_api_base_url: str = Field("https://slack.com/api/", description="Slack Web API base.")
    slack_timeout: float = Field(
        10.0, gt=0, le=60, description="Seconds per Slack Web API call before giving up.")
    slack_workspace_rate: float = Field(
        10.0, gt=0, le=100, description="Messages per second per Slack workspace.")
    slack_update_rate: float = Field(
        50 / 60, gt=0, le=100, description=(
            "Updates per second of messages already in 1-on-1 threads (chat.update, a Tier 3 "
            "method: about 50 a minute per workspace)."))
    slack_tier3_per_minute: int = Field(
        50, ge=1, le=1000, description=(
            "Calls a minute per Slack workspace of each Tier 3 method Parley makes before a "
            "first message: conversations.open (a 1-on-1's group DM) and users.lookupByEmail "
            "(someone imported without a Slack id)."))
    invite_ttl_days: int = Field(7, ge=1, le=90, description="Days an invite link stays valid.")
    export_link_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="Minutes an export's download link (and its "
                                              "file) stay valid once ready.")
    # ---- email (channels/email.py) ----
    smtp_url: str = Field("", description=(
        "smtp://user:pass@host:587 (STARTTLS, required before credentials are sent) or "
        "smtps://user:pass@host:465; empty → .eml files in MAIL_DIR. Mail goes out only over "
        "TLS unless the host is localhost/loopback or the URL ends in ?tls=off."))
    email_from: str = Field("", description="From address, e.g. 'Parley <hr@example.com>'.")
    email_reply_domain: str = Field("", description=(
        "Domain of the reply+<token>@ addresses replies go to; default: EMAIL_FROM's domain."))
    email_inbound_signing_key: str = Field("", description=(
        "Mailgun's webhook signing key; turns on POST /email/inbound."))
    imap_url: str = Field("", description=(
        "imaps://user:pass@host/INBOX (or imap:// with STARTTLS): the mailbox polled for replies."))
    email_authserv_id: str = Field("", description=(
        "authserv-id of the Authentication-Results header your own mail server adds (e.g. "
        "mx.example.com); over IMAP only that header is trusted, and without it fresh mail "
        "(no reply address, no thread) is not routed by its sender."))
    email_ca_file: str = Field("", description=(
        "PEM file of extra CAs trusted for SMTP and IMAP (a private relay); empty → system CAs."))
    mail_dir: str = Field("", description=(
        "Where mail is written as .eml files when SMTP_URL is empty; default var/mail on the "
        "embedded default (no DATABASE_URL), off otherwise."))
    email_rate: float = Field(10.0, gt=0, le=1000, description="Emails per second through SMTP.")
    smtp_timeout: float = Field(20.0, gt=0, le=120, description="Seconds per SMTP/IMAP exchange.")
    # ---- end email ----
    # ---- Microsoft Teams (channels/teams.py) ----
    teams_app_id: str = Field(
        "", description="Bot (Microsoft App) id; with the password: Teams on.")
    teams_app_password: str = Field("", description="Bot client secret, for the bot token.")
    teams_tenant_id: str = Field(
        "", description="Single-tenant bot's tenant id; empty = multi-tenant.")
    teams_allowed_tenants: str = Field(
        "", description="Comma-separated tenant ids (besides TEAMS_TENANT_ID) whose "
                        "roster email/UPN may link a Teams user to a person.")
    teams_openid_metadata_url: str = Field(
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        description="Where the keys of inbound Bot Connector tokens are found (Microsoft's).")
    teams_login_url: str = Field(
        "", description="Authority for the outbound bot token (https); empty = Microsoft's "
                        "login.microsoftonline.com. When set, no instance discovery is done.")
    teams_dev_no_auth: bool = Field(
        False, description="Development only: accept unauthenticated activities (no app id); "
                           "refused unless PUBLIC_BASE_URL is a loopback address, and then "
                           "each request must come from loopback with a loopback serviceUrl.")
    teams_tenant_rate: float = Field(
        30.0, gt=0, le=1000, description="Sends per second per app per Teams tenant.")
    teams_timeout: float = Field(
        15.0, gt=0, le=60, description="Seconds per Bot Connector call before giving up.")
    # ---- end Microsoft Teams ----
    # ---- SMS (Twilio): on when the account SID, auth token and sender are set ----
    twilio_account_sid: str = Field("", description="Twilio account SID (AC…).")
    twilio_auth_token: str = Field("", description="Twilio auth token; also verifies webhooks.")
    twilio_from: str = Field(
        "", description="The sender: an E.164 number (+15550100) or a Messaging Service SID (MG…).")
    twilio_api_base_url: str = Field(
        "https://api.twilio.com", description="Twilio REST API base (a test seam).")
    twilio_rate: float = Field(
        1.0, gt=0, le=1000,
        description="SMS segments per second from the sender (a US long code: 1; short code: 100).")
    sms_default_region: str = Field(
        "US", min_length=2, max_length=2,
        description="Country assumed for phone numbers written without +country code.")
    # ---- end SMS ----
    # ---- directory import ----
    import_date_order: Literal["DMY", "MDY"] = Field(
        "DMY", description="How an import reads a date column whose every value fits both "
                           "03/04/2024 readings: DMY (3 April) or MDY (March 4).")
    import_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest file POST /api/v1/directory/import takes.")
    # ---- end directory import ----
    # ---- rollouts (core/rollouts.py) ----
    quiet_hours: str = Field("20:00-08:00", description=(
        "Local hours (HH:MM-HH:MM) in which no proactive message (invite, reminder) is sent; "
        "one due then waits for the end. 'off' sends at any hour. Overridable per rollout."))
    working_days: str = Field("mon-fri", description=(
        "Days proactive messages may leave, in each person's zone ('mon-fri', 'mon,wed'); "
        "one due on another day waits for the next working morning. Overridable per rollout."))
    # ---- end rollouts ----
    # ---- 1-on-1s (core/one_on_ones) ----
    report_group_minimum: int = Field(5, ge=3, le=10, description=(
        "The 1-on-1 usage report merges departments with fewer people than this into "
        "'Other' (3–10), so no small team is singled out."))
    # ---- end 1-on-1s ----
    # ---- webhooks (core/webhooks.py, channels/webhooks.py) ----
    webhook_allow_private: bool = Field(False, description=(
        "Allow webhook URLs that resolve to loopback, private, link-local, multicast, "
        "reserved or unspecified addresses (development and tests only)."))
    webhook_connect_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to connect to a webhook endpoint.")
    webhook_timeout: float = Field(
        10.0, gt=0, le=120, description="Seconds a webhook delivery may take in all.")
    webhook_retry_hours: float = Field(
        24.0, gt=0, le=168, description=(
            "Hours a webhook delivery is retried (exponential backoff) before it is failed."))
    # ---- end webhooks ----
    # ---- retention (core/retention.py) ----
    retention_raw_text_days: int = Field(365, ge=1, le=36500, description=(
        "Days what a participant wrote is kept as written, counted from the interview's end "
        "(or the turn, if it has not ended); then only its PII-redacted copy stays. "
        "Overridable per session type (PUT /api/v1/settings/retention)."))
    retention_payload_days: int = Field(30, ge=1, le=36500, description=(
        "Days the content of inbound and outbound message payloads and audit-log details "
        "is kept; the rows themselves (the exactly-once ledger) stay, emptied."))
    # ---- end retention ----

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        from core import schedule

        schedule.parse_quiet(value)
        return value

    @field_validator("working_days")
    @classmethod
    def _working_days(cls, value: str) -> str:
        from core import schedule

        schedule.parse_days(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as postgresql+psycopg://host/db")
        if value.startswith("postgres://"):  # Heroku-style URLs name no driver
            value = "postgresql+psycopg://" + value.removeprefix("postgres://")
        elif value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'parley.db'}"

    @property
    def effective_public_base_url(self) -> str:
        return self.public_base_url or f"http://127.0.0.1:{self.port}"

    @field_validator("slack_api_base_url")
    @classmethod
    def _slack_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret and (
            self.slack_bot_token or (self.slack_client_id and self.slack_client_secret)))

    @field_validator("twilio_api_base_url")
    @classmethod
    def _twilio_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def teams_enabled(self) -> bool:  # Microsoft Teams
        return bool(self.teams_app_id and self.teams_app_password) or self.teams_dev_no_auth

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    # ---- email ----
    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
        return value

    @field_validator("imap_url")
    @classmethod
    def _imap_url(cls, value: str) -> str:
        if value and not value.startswith(("imap://", "imaps://")):
            raise ValueError("must start with imaps:// (implicit TLS) or imap:// (STARTTLS)")
        return value

    @property
    def effective_mail_dir(self) -> Path | None:
        """The .eml outbox: only without SMTP, and by default only on the embedded default,
        so a new user sees what employees would receive."""
        if self.smtp_url:
            return None
        if self.mail_dir:
            return None if self.mail_dir == "off" else Path(self.mail_dir)
        return None if self.database_url else self.var_dir / "mail"

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_url or self.effective_mail_dir)
    # ---- end email ----


def load_settings(**overrides) -> Settings:
    """Read the environment (plus explicit overrides); fill generated secrets from var/."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None
    if not settings.secret_key or not settings.admin_api_token:
        kept = _kept_secrets(settings.var_dir)
        settings.secret_key = settings.secret_key or kept["secret_key"]
        settings.admin_api_token = settings.admin_api_token or kept["admin_api_token"]
    return settings


def _kept_secrets(var_dir: Path) -> dict[str, str]:
    path = private_dir(var_dir) / "secrets.json"
    if path.exists():
        return json.loads(private_file(path).read_text())
    kept = {"secret_key": secrets.token_urlsafe(32), "admin_api_token": secrets.token_urlsafe(24)}
    private_file(path).write_text(json.dumps(kept))
    return kept


def private_dir(path: Path) -> Path:
    """Make ``path`` owner-only (0700): var/ holds the database, the secrets and the Redis
    data. A directory someone else owns is left as it is (its files are still 0600)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path, *, create: bool = True) -> Path:
    """Make ``path`` owner read/write only (0600), creating it empty first if ``create``;
    an existing file from an older install is tightened too."""
    if create:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if path.exists():
        path.chmod(0o600)
    return path


# Which settings code runs with. A process has one default: the worker, the scheduler and
# `python app.py` set it from the environment (``activate``). An app never changes it: each
# keeps its own Settings and binds them for the length of every request it serves (``bind``,
# a context variable, so concurrent requests and a second app in the same process each see
# their own). ``core.db`` and ``core.jobs`` find the engine and the Redis through
# ``get_settings``, one per URL, so they follow the binding too.
_default: Settings | None = None
_bound: ContextVar[Settings | None] = ContextVar("parley_settings", default=None)


def activate(settings: Settings) -> Settings:
    """Make these the process's default settings (entry points only, never an app)."""
    global _default
    _default = settings
    return settings


def bind(settings: Settings) -> Token:
    """Run this context with these settings until ``unbind`` (an app does it per request)."""
    return _bound.set(settings)


def unbind(token: Token) -> None:
    _bound.reset(token)


@contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """``with using(settings):`` run a block with these settings bound."""
    token = bind(settings)
    try:
        yield settings
    finally:
        unbind(token)


def get_settings() -> Settings:
    """The settings bound here (a request's app), else the process default."""
    return _bound.get() or _default or activate(load_settings())
