"""Local fakes of Google's APIs: threaded HTTP servers on 127.0.0.1 speaking the real wire
format, driven by the real client libraries through barometer's endpoint settings.

* :class:`FakeOAuth` — the token endpoint: ``refresh_token``, ``authorization_code`` and
  JWT-bearer (service account) grants; revoked tokens answer ``400 invalid_grant``. Also
  the consent page of "Sign in with Google" (``/auth``, OpenID Connect with PKCE): it
  sends the browser back with a code for the account set by :meth:`FakeOAuth.sign_in`,
  which the token endpoint exchanges for an ID token.
* :class:`tests.fakes.google_ga4.FakeGA4` — the GA4 Data API (``runReport``,
  ``batchRunReports``) and the Admin API calls ``properties discover`` makes.
* :class:`tests.fakes.google_gsc.FakeSearchConsole` — Search Console ``searchAnalytics/query``
  and ``sites``.

Every fake records the requests it received (``requests``), checks the bearer token against
:class:`FakeOAuth` when given one, and can be scripted to fail: ``fail(status, body)`` answers
the next request with that response instead (repeat with ``times=``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http import LocalServer

__all__ = ["FakeOAuth", "FakeServer", "Reply", "Request", "google_error"]

#: What a route returns: status, a JSON-able body (or raw bytes), extra headers.
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, still percent-encoded
    path: str  # decoded, without the query string
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, a form dict, or None

    @property
    def token(self) -> str:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""


def google_error(code: int, message: str, status: str, reason: str = "") -> dict[str, Any]:
    """Google's JSON error body (``errors[].reason`` as the v1/v3 REST APIs add it)."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    return {"error": error}


class FakeServer(LocalServer):
    """Base of the fakes: a threaded server calling :meth:`route` for every request."""

    def __init__(self, *, oauth: FakeOAuth | None = None) -> None:
        self.oauth = oauth
        self.requests: list[Request] = []
        self._script: deque[Reply] = deque()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                request = fake._parse(self.command, self.path, dict(self.headers.items()), raw)
                with fake.lock:
                    fake.requests.append(request)
                    scripted = fake._script.popleft() if fake._script else None
                status, body, headers = scripted or fake._dispatch(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json; charset=UTF-8"))
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.url = self._serve(Handler)

    @staticmethod
    def _parse(method: str, target: str, headers: dict[str, str], raw: bytes) -> Request:
        parts = urllib.parse.urlsplit(target)
        lower = {k.lower(): v for k, v in headers.items()}
        body: Any = None
        if raw:
            if "x-www-form-urlencoded" in lower.get("content-type", ""):
                body = dict(urllib.parse.parse_qsl(raw.decode()))
            else:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
        query = dict(urllib.parse.parse_qsl(parts.query))
        return Request(method, parts.path, urllib.parse.unquote(parts.path), query, lower, body)

    def _dispatch(self, request: Request) -> Reply:
        if self.oauth is not None and not self.oauth.accepts(request.token):
            return 401, google_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"), {}
        try:
            return self.route(request)
        except Exception as exc:  # a bug in the fake should show, not hang the client
            return 500, google_error(500, f"fake failed: {exc!r}", "INTERNAL"), {}

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def fail(self, status: int, body: Any, *, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` and ``body`` (bytes: sent raw)."""
        with self.lock:
            self._script.extend([(status, body, dict(headers or {}))] * times)

    def count(self, fragment: str = "") -> int:
        """Requests received whose decoded path contains ``fragment``."""
        with self.lock:
            return sum(1 for r in self.requests if fragment in r.path)


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class _Grant:
    client_id: str
    scopes: tuple[str, ...]


@dataclass
class FakeOAuthState:
    refresh: dict[str, _Grant] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # code -> refresh token
    access: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    service_accounts: set[str] = field(default_factory=set)  # client emails
    #: the Google account signed in on the consent page: ID-token claims (email, hd, ...)
    account: dict[str, Any] | None = None
    #: OpenID codes handed out by the consent page: code -> (claims, client, challenge, redirect)
    oidc: dict[str, tuple[dict[str, Any], str, str, str]] = field(default_factory=dict)


class FakeOAuth(FakeServer):
    """Google's token endpoint at ``{url}/token``."""

    SCOPES = (
        "https://www.googleapis.com/auth/analytics.readonly",
        "https://www.googleapis.com/auth/webmasters.readonly",
    )

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__()
        self.state = FakeOAuthState()
        self._ids = itertools.count(1)
        self.now = now  # issue and expiry times of ID tokens

    def sign_in(self, email: str, *, hd: str | None = None, verified: bool = True) -> None:
        """The account the consent page signs in with (``hd``: its Workspace domain, if any)."""
        claims: dict[str, Any] = {"email": email, "email_verified": verified, "sub": f"1{next(self._ids):020d}"}
        if hd is not None:
            claims["hd"] = hd
        with self.lock:
            self.state.account = claims

    def _consent(self, query: dict[str, str]) -> Reply:
        """Google's consent page, already agreed to: back to ``redirect_uri`` with a code."""
        redirect = query.get("redirect_uri", "")
        if query.get("response_type") != "code" or not query.get("client_id") or not redirect:
            return 400, b"Error 400: invalid_request", {"Content-Type": "text/html"}
        back = {"state": query.get("state", "")}
        if self.state.account is None:
            back["error"] = "access_denied"
        else:
            code = f"4/oidc-{secrets.token_urlsafe(12)}"
            claims = {**self.state.account, "nonce": query.get("nonce", "")}
            self.state.oidc[code] = (claims, query["client_id"], query.get("code_challenge", ""), redirect)
            back["code"] = code
        return 302, b"", {"Location": f"{redirect}?{urllib.parse.urlencode(back)}", "Content-Type": "text/html"}

    def _id_token(self, form: dict[str, str]) -> Reply | None:
        """The ``authorization_code`` grant of a consent-page code (None: not one of those)."""
        issued = self.state.oidc.pop(form.get("code", ""), None)
        if issued is None:
            return None
        claims, client, challenge, redirect = issued
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if form.get("redirect_uri") != redirect or form.get("client_id") != client or digest != challenge:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}, {}
        if not form.get("client_secret"):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}, {}
        at = int(self.now().timestamp())
        payload = {"iss": "https://accounts.google.com", "aud": client, "iat": at, "exp": at + 3600, **claims}
        parts = [{"alg": "RS256", "typ": "JWT"}, payload]
        token = ".".join(base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in parts)
        body = self._issue(("openid", "email"))
        body["id_token"] = token + ".c2lnbmF0dXJl"
        return 200, body, {}

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def add_refresh_token(
        self, token: str = "", *, client_id: str = "client-1", scopes: tuple[str, ...] = SCOPES
    ) -> str:
        token = token or f"1//refresh-{next(self._ids)}"
        with self.lock:
            self.state.refresh[token] = _Grant(client_id, scopes)
        return token

    def add_code(self, code: str, *, client_id: str = "client-1", scopes: tuple[str, ...] = SCOPES) -> str:
        """An authorization code the consent screen would hand out; returns its refresh token."""
        token = self.add_refresh_token(client_id=client_id, scopes=scopes)
        with self.lock:
            self.state.codes[code] = token
        return token

    def add_service_account(self, email: str) -> None:
        with self.lock:
            self.state.service_accounts.add(email)

    def revoke(self, refresh_token: str) -> None:
        with self.lock:
            self.state.revoked.add(refresh_token)

    def accepts(self, token: str) -> bool:
        """A bearer token this server issued, or a service account's self-signed JWT."""
        with self.lock:
            if token in self.state.access:
                return True
            claims = _jwt_claims(token)
            return claims is not None and claims.get("iss") in self.state.service_accounts

    def grants(self, grant_type: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if isinstance(r.body, dict) and r.body.get("grant_type") == grant_type)

    def _issue(self, scopes: tuple[str, ...], refresh: str = "") -> dict[str, Any]:
        access = f"ya29.fake-{next(self._ids)}"
        self.state.access.add(access)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": 3599,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def route(self, request: Request) -> Reply:
        form = request.body if isinstance(request.body, dict) else {}
        if request.path == "/auth" and request.method == "GET":
            with self.lock:
                return self._consent(request.query)
        if request.path != "/token" or request.method != "POST":
            return 404, {"error": "not_found"}, {}
        grant = form.get("grant_type")
        invalid: Reply = (
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            {},
        )
        with self.lock:
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                known = self.state.refresh.get(token)
                if known is None or token in self.state.revoked:
                    return invalid
                if form.get("client_id") != known.client_id or not form.get("client_secret"):
                    return 401, {"error": "invalid_client", "error_description": "Unauthorized"}, {}
                return 200, self._issue(known.scopes), {}
            if grant == "authorization_code" and (answered := self._id_token(form)) is not None:
                return answered
            if grant == "authorization_code":
                token = self.state.codes.pop(form.get("code", ""), "")
                if not token or not form.get("redirect_uri", "").startswith("http://127.0.0.1:"):
                    return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}, {}
                if not form.get("code_verifier"):
                    return 400, {"error": "invalid_request", "error_description": "Missing code verifier."}, {}
                return 200, self._issue(self.state.refresh[token].scopes, refresh=token), {}
            if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                claims = _jwt_claims(form.get("assertion", "")) or {}
                # google-auth always addresses the assertion to Google's own token endpoint.
                audiences = (self.token_uri, "https://oauth2.googleapis.com/token")
                if claims.get("iss") not in self.state.service_accounts or claims.get("aud") not in audiences:
                    return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, {}
                return 200, self._issue(tuple(str(claims.get("scope", "")).split())), {}
        return 400, {"error": "unsupported_grant_type"}, {}
