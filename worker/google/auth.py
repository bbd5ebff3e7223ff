"""Google credentials for [[accounts]]: service-account keys and OAuth users.

* A ``service_account`` account reads its JSON key from ``key_file``.
* An ``oauth`` account is a Google user who signed in once with
  ``barometer accounts add NAME --oauth`` (the installed-app flow with a loopback
  redirect). Its refresh token is stored in the database encrypted with Fernet; the key
  comes from the environment variable named by ``[google] secret_key_env`` (several
  comma-separated keys rotate: the first encrypts, all decrypt).

When Google rejects an account (``invalid_grant``: revoked, expired, password changed),
:func:`guard_account` marks it as needing re-authorisation and reports that once (an
ERROR log line, which Sentry turns into one event). An OAuth account so marked is not
sent to Google again until it is re-authorised; the properties of every other account
go on working.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import google.auth.credentials
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from jobs.domain import PropertySpec
from jobs.errors import InputError, SourceAuthError, SourceError
from jobs.storage import accounts as store
from worker.settings import AccountSettings, ConfigError, Settings, secret

__all__ = [
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "SCOPES",
    "AccountStatus",
    "account_statuses",
    "authorise_oauth",
    "check_accounts",
    "credentials_factory",
    "guard_account",
    "new_secret_key",
]

log = logging.getLogger(__name__)

SCOPES = (
    "https://www.googleapis.com/auth/analytics.readonly",
    "https://www.googleapis.com/auth/webmasters.readonly",
)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint, not a secret)
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"

Credentials = google.auth.credentials.Credentials


def _now() -> datetime:
    return datetime.now(UTC)


def token_uri(settings: Settings) -> str:
    return settings.google.token_uri or GOOGLE_TOKEN_URI


def new_secret_key() -> str:
    """A fresh Fernet key for ``[google] secret_key_env``."""
    return Fernet.generate_key().decode()


def _cipher(settings: Settings) -> MultiFernet:
    name = settings.google.secret_key_env
    value = secret(name)
    if value is None:
        raise ConfigError(
            f"{name} is not set: OAuth refresh tokens are stored encrypted with it "
            "(create one with `barometer accounts keygen`)"
        )
    try:
        return MultiFernet([Fernet(key.strip()) for key in value.get_secret_value().split(",") if key.strip()])
    except ValueError:
        raise ConfigError(
            f"{name}: not a Fernet key (32 url-safe base64 bytes; see `barometer accounts keygen`)"
        ) from None


def _client_secret(settings: Settings) -> str:
    google = settings.google
    if not google.oauth_client_id:
        raise ConfigError("google.oauth_client_id: required for OAuth accounts (a 'Desktop app' OAuth client id)")
    value = secret(google.oauth_client_secret_env)
    if value is None:
        raise ConfigError(f"{google.oauth_client_secret_env} is not set: it holds the OAuth client secret")
    return value.get_secret_value()


class _EndpointBoundServiceAccount(service_account.Credentials):
    """Service-account credentials that make no call of their own to Google's IAM host
    (google-auth's background Regional Access Boundary lookup, which the library already
    skips for OAuth user credentials). Used when ``[google]`` endpoints are overridden:
    behind a proxy or with an emulator, barometer talks only to the configured hosts."""

    def _is_regional_access_boundary_lookup_required(self) -> bool:
        return False


def _overridden(settings: Settings) -> bool:
    google = settings.google
    return any((google.ga4_endpoint, google.gsc_endpoint, google.token_uri, google.admin_endpoint))


def _service_account(settings: Settings, account: AccountSettings) -> Credentials:
    index = settings.accounts.index(account)
    where = f"accounts[{index}].key_file"
    if not account.key_file:
        raise ConfigError(f"{where}: required for a service account (the path of its JSON key)")
    try:
        info = json.loads(Path(account.key_file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {account.key_file}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConfigError(f"{where}: {account.key_file} is not a JSON key file") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(f'{where}: {account.key_file} is not a service account key ("type": "service_account")')
    if settings.google.token_uri:
        info["token_uri"] = settings.google.token_uri
    try:
        kind = _EndpointBoundServiceAccount if _overridden(settings) else service_account.Credentials
        creds: Credentials = kind.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        return creds
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{where}: {account.key_file} is not a usable key: {exc}") from None


def _oauth_user(settings: Settings, engine: sa.Engine, account: AccountSettings) -> Credentials:
    stored = store.load_account(engine, account.name)
    hint = f"run `barometer accounts add {account.name} --oauth`"
    if stored is None or not stored.refresh_token:
        raise SourceAuthError(f"account {account.name!r} is not authorised yet: {hint}")
    if stored.status == store.NEEDS_REAUTH:
        since = f" since {stored.failed_at:%Y-%m-%d %H:%M} UTC" if stored.failed_at else ""
        raise SourceAuthError(f"account {account.name!r} needs re-authorisation{since}: {hint}")
    try:
        refresh_token = _cipher(settings).decrypt(stored.refresh_token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            f"{settings.google.secret_key_env}: cannot decrypt the stored token of account {account.name!r} "
            "(the key changed? keep the old key after the new one, comma-separated)"
        ) from None
    return user_credentials.Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=refresh_token,
        client_id=stored.client_id or settings.google.oauth_client_id,
        client_secret=_client_secret(settings),
        token_uri=token_uri(settings),
        scopes=list(stored.scopes or SCOPES),
    )


def credentials_factory(settings: Settings, engine: sa.Engine, account_name: str) -> Callable[[], Credentials]:
    """A function building fresh credentials for ``account_name`` (one per thread/client).

    Raises :class:`ConfigError` for an unknown account or an unusable key file, and
    :class:`SourceAuthError` for an OAuth account that was never authorised or needs
    re-authorisation, when called.
    """
    account = settings.account(account_name)
    if account.kind == "service_account":
        return lambda: _service_account(settings, account)
    return lambda: _oauth_user(settings, engine, account)


def authorise_oauth(
    settings: Settings,
    engine: sa.Engine,
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    timeout: int = 300,
) -> tuple[str, ...]:
    """Run the installed-app flow for account ``name`` and store its refresh token.

    Starts a one-shot web server on ``host:port`` (0: any free port) as the loopback
    redirect, prints the consent URL on stdout (and opens a browser), waits up to
    ``timeout`` seconds, exchanges the code at the token endpoint and stores the refresh
    token encrypted. Returns the scopes the user granted (they may untick some).
    """
    cipher = _cipher(settings)  # fail before the user signs in, not after
    client_id, client_secret = settings.google.oauth_client_id, _client_secret(settings)
    config = {
        "installed": {
            "client_id": client_id,
            "client_secret": client_secret,
            "auth_uri": settings.google.auth_uri or GOOGLE_AUTH_URI,
            "token_uri": token_uri(settings),
            "redirect_uris": ["http://127.0.0.1", "http://localhost"],
        }
    }
    from google_auth_oauthlib.flow import InstalledAppFlow  # only this command needs it

    # Granular consent may grant fewer scopes than asked: report it instead of failing.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    flow = InstalledAppFlow.from_client_config(config, scopes=list(SCOPES))
    try:
        creds = flow.run_local_server(
            host=host,
            port=port,
            open_browser=open_browser,
            authorization_prompt_message=(
                "Open this URL in a browser signed in to the Google account to authorise:\n{url}\n"
            ),
            success_message="barometer is authorised. You may close this window.",
            timeout_seconds=timeout,
            access_type="offline",
            prompt="consent",
        )
    except Exception as exc:
        raise InputError(f"accounts add {name}: authorisation failed: {type(exc).__name__}: {exc}") from None
    if not creds.refresh_token:
        raise InputError(f"accounts add {name}: Google returned no refresh token; revoke the app's access and retry")
    granted = creds.granted_scopes or creds.scopes or SCOPES
    scopes = tuple(granted.split() if isinstance(granted, str) else granted)
    encrypted = cipher.encrypt(creds.refresh_token.encode()).decode()
    store.save_token(engine, name, refresh_token=encrypted, client_id=client_id, scopes=scopes, now=_now())
    log.info("account %s: authorised (%s)", name, " ".join(scopes))
    return scopes


@dataclass(frozen=True, slots=True)
class AccountStatus:
    name: str
    kind: str
    status: str  # ok | needs re-auth | not authorised | key file missing | cannot decrypt | check failed
    detail: str


def account_statuses(settings: Settings, engine: sa.Engine) -> tuple[AccountStatus, ...]:
    """Every configured account (and any authorised one not yet configured) with its status."""
    stored = store.load_accounts(engine)
    out = []
    for account in settings.accounts:
        row = stored.pop(account.name, None)
        name, kind = account.name, account.kind
        if row is not None and row.status == store.NEEDS_REAUTH:
            out.append(AccountStatus(name, kind, "needs re-auth", row.detail))
        elif kind == "oauth" and (row is None or not row.refresh_token):
            out.append(AccountStatus(name, kind, "not authorised", f"run `barometer accounts add {name} --oauth`"))
        elif kind == "service_account" and not Path(account.key_file).is_file():
            out.append(AccountStatus(name, kind, "key file missing", account.key_file or "(no key_file)"))
        elif row is not None and row.authorised_at is not None:
            out.append(AccountStatus(name, kind, "ok", f"authorised {row.authorised_at:%Y-%m-%d %H:%M} UTC"))
        else:
            out.append(AccountStatus(name, kind, "ok", account.key_file))
    for row in stored.values():
        status = "needs re-auth" if row.status == store.NEEDS_REAUTH else "ok"
        out.append(AccountStatus(row.name, row.kind, status, "not in barometer.toml: add an [[accounts]] entry"))
    return tuple(out)


def check_accounts(settings: Settings, engine: sa.Engine) -> dict[str, AccountStatus]:
    """Ask the token endpoint for an access token for every configured account and record
    the outcome (a rejection marks the account, as a failed fetch would). Returns the
    accounts the check could not even start, with why: a stored token that cannot be
    decrypted (``cannot decrypt``), an unusable key file (``check failed``)."""
    unusable: dict[str, AccountStatus] = {}
    from google.auth.transport.requests import Request

    from jobs.sources.ga4 import translate_error

    for account in settings.accounts:
        spec = PropertySpec(name=f"account {account.name}", source="ga4", account=account.name)
        try:
            with guard_account(settings, engine, spec):
                credentials = credentials_factory(settings, engine, account.name)()
                try:
                    credentials.refresh(Request())  # type: ignore[no-untyped-call]
                except Exception as exc:
                    raise translate_error(exc, where="token endpoint", account=account.name) from exc
        except ConfigError as exc:
            log.warning("account %s: %s", account.name, exc)
            status = "cannot decrypt" if "cannot decrypt" in str(exc) else "check failed"
            unusable[account.name] = AccountStatus(account.name, account.kind, status, str(exc))
        except SourceError as exc:
            log.warning("account %s: %s", account.name, exc)
    return unusable


@contextmanager
def guard_account(settings: Settings, engine: sa.Engine, spec: PropertySpec) -> Iterator[None]:
    """Around work on ``spec``: a :class:`SourceAuthError` marks its account as needing
    re-authorisation (reported once, at ERROR) and is re-raised; success clears a
    service account's mark."""
    if spec.source not in ("ga4", "gsc") or not spec.account:
        yield
        return
    try:
        yield
    except SourceAuthError as exc:
        kind = settings.account(spec.account).kind
        if store.mark_rejected(engine, spec.account, kind=kind, detail=str(exc), now=_now()):
            log.error(
                "Google account %s needs re-authorisation (%s): its properties get no fresh data until then: %s",
                spec.account,
                f"barometer accounts add {spec.account} --oauth" if kind == "oauth" else "fix its key file",
                exc,
            )
        else:
            log.warning("property %s: account %s still needs re-authorisation", spec.name, spec.account)
        raise
    if store.mark_ok(engine, spec.account, now=_now()):
        log.info("account %s: credentials accepted again", spec.account)
