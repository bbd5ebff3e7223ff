"""``barometer properties discover``: what an account can read, as ready-to-paste TOML.

GA4 properties come from the Admin API (``accountSummaries``, then each property for its
time zone) over an authorised HTTP session, since no Admin API client library is
installed; Search Console sites from ``sites().list()``. A failure on one side is
reported and the other side is still listed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from google.auth.transport.requests import AuthorizedSession

from jobs.errors import SourceError
from jobs.sources.ga4 import translate_error as ga4_error
from jobs.sources.gsc import translate_error as gsc_error
from worker.google.auth import credentials_factory
from worker.google.clients import gsc_service_factory
from worker.settings import Settings

__all__ = ["ADMIN_ENDPOINT", "Discovery", "FoundProperty", "discover", "to_toml"]

ADMIN_ENDPOINT = "https://analyticsadmin.googleapis.com"
#: Search Console reports days in Pacific time.
GSC_TIMEZONE = "America/Los_Angeles"
_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class FoundProperty:
    source: str  # ga4 | gsc
    id: str
    label: str  # display name and parent account, or the permission level
    timezone: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Discovery:
    account: str
    properties: tuple[FoundProperty, ...]
    problems: tuple[str, ...]


class _AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


def _admin_get(session: AuthorizedSession, url: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    response = session.get(url, params=params, timeout=timeout)
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.reason or ""
        raise _AdminError(response.status_code, " ".join(str(message).split())[:300])
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError("the response is not a JSON object")
    return body


def _ga4_properties(settings: Settings, engine: sa.Engine, account: str) -> list[FoundProperty]:
    base = (settings.google.admin_endpoint or ADMIN_ENDPOINT).rstrip("/")
    timeout = settings.google.timeout_seconds
    session = AuthorizedSession(credentials_factory(settings, engine, account)())  # type: ignore[no-untyped-call]
    found: list[FoundProperty] = []
    params: dict[str, Any] = {"pageSize": _PAGE_SIZE}
    while True:
        body = _admin_get(session, f"{base}/v1beta/accountSummaries", params, timeout)
        for summary in body.get("accountSummaries", []):
            for prop in summary.get("propertySummaries", []):
                details = _admin_get(session, f"{base}/v1beta/{prop['property']}", {}, timeout)
                label = f"{prop.get('displayName', '')} (account {summary.get('displayName', summary.get('account'))})"
                name = str(prop.get("displayName", ""))
                zone = str(details.get("timeZone") or "UTC")
                found.append(FoundProperty("ga4", str(prop["property"]), label, zone, name))
        token = body.get("nextPageToken")
        if not token:
            return found
        params = {"pageSize": _PAGE_SIZE, "pageToken": token}


def _gsc_sites(settings: Settings, engine: sa.Engine, account: str) -> list[FoundProperty]:
    service = gsc_service_factory(settings, credentials_factory(settings, engine, account))()
    body = service.sites().list().execute(num_retries=settings.google.max_retries)
    sites = body.get("siteEntry", []) if isinstance(body, dict) else []
    return [
        FoundProperty("gsc", str(s["siteUrl"]), str(s.get("permissionLevel", "")), GSC_TIMEZONE)
        for s in sorted(sites, key=lambda s: str(s.get("siteUrl")))
        if s.get("permissionLevel") != "siteUnverifiedUser"
    ]


def discover(settings: Settings, engine: sa.Engine, account: str) -> Discovery:
    """Every GA4 property and Search Console site ``account`` can read."""
    settings.account(account)  # a clear error for an unknown name
    found: list[FoundProperty] = []
    problems: list[str] = []
    try:
        found += _ga4_properties(settings, engine, account)
    except SourceError as exc:
        problems.append(str(exc))
    except _AdminError as exc:
        kind = {401: "credentials rejected", 403: "no access"}.get(exc.status, "request rejected")
        problems.append(f"GA4 Admin API: {kind}: {exc}")
    except Exception as exc:
        problems.append(str(ga4_error(exc, where="GA4 Admin API", account=account)))
    try:
        found += _gsc_sites(settings, engine, account)
    except SourceError as exc:
        problems.append(str(exc))
    except Exception as exc:
        problems.append(str(gsc_error(exc, where="Search Console sites", account=account)))
    return Discovery(account, tuple(found), tuple(problems))


def _slug(text: str) -> str:
    """A property name from a display name or site URL: ASCII letters, digits, ``_.-``."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"^(sc-domain:|https?://)", "", text.strip().lower())
    return re.sub(r"[^a-z0-9_.-]+", "-", text).strip("-.") or "property"


def to_toml(found: Discovery, settings: Settings) -> str:
    """``[[properties]]`` blocks for ``found``; ones already configured are commented out."""
    configured: dict[tuple[str, str], str] = {(p.source, p.id): p.name for p in settings.properties}
    taken = {p.name for p in settings.properties}
    blocks = []
    for prop in found.properties:
        if (prop.source, prop.id) in configured:
            blocks.append(f"# {prop.source} {prop.id}: already configured as {configured[prop.source, prop.id]!r}")
            continue
        kind = "GA4 property" if prop.source == "ga4" else "Search Console site"
        base = _slug(prop.display_name if prop.source == "ga4" else prop.id)
        name = base if prop.source == "ga4" else f"{base}-search"
        n = 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        blocks.append(
            "\n".join(
                (
                    f"# {kind}: {' '.join(prop.label.split())}",
                    "[[properties]]",
                    f"name = {json.dumps(name)}",
                    f"source = {json.dumps(prop.source)}",
                    f"id = {json.dumps(prop.id, ensure_ascii=False)}",
                    f"account = {json.dumps(found.account, ensure_ascii=False)}",
                    f"timezone = {json.dumps(prop.timezone)}",
                )
            )
        )
    return "\n\n".join(blocks) + ("\n" if blocks else "")
