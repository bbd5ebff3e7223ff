""" "Sign in with Google" for one Workspace domain (``[web] google_domain``).

The OpenID Connect authorization-code flow with PKCE, on the OAuth client of
``[google] oauth_client_id`` (a "Web application" client whose redirect URIs list
``{public_url}/login/google/callback``):

1. ``GET /login/google`` sends the browser to Google's consent page (``[google] auth_uri``)
   with a random ``state``, ``nonce`` and PKCE challenge, kept in a short-lived HttpOnly
   cookie on ``/login/google``; ``hd`` asks Google to offer accounts of the domain only.
2. ``GET /login/google/callback`` checks the ``state`` against the cookie (another site
   cannot complete a sign-in in the user's browser), exchanges the code at the token
   endpoint over TLS, and reads the ID token that endpoint returned. Received directly
   from the token endpoint, its issuer is established by TLS (OpenID Connect Core
   3.1.3.7), so it is not checked against Google's signing keys; its audience (our
   client), expiry, nonce, verified e-mail and hosted domain (``hd``) are.
3. The user is the console user named by the e-mail address, created with
   ``[web] google_role`` (viewer by default) at the first sign-in, written to the audit
   log; an admin can change the role. Such a user has no password.

Every refusal is one line on the sign-in page; nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from jobs.errors import InputError
from worker import audit
from worker.settings import Settings, secret
from worker.web.pages_auth import login_form_page, safe_next, secure, signed_in
from worker.web.security import engine_of
from worker.web.users import Role, google_user

__all__ = ["GOOGLE_COOKIE", "router"]

router = APIRouter()

GOOGLE_COOKIE = "barometer_google"
_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_COOKIE_SECONDS = 600


class Refused(Exception):
    """A sign-in that must not go through; the message is shown to the user."""


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _callback(request: Request) -> str:
    public = _settings(request).web.public_url
    if public:
        return f"{public}/login/google/callback"
    return str(request.url_for("google_callback"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@router.get("/login/google")
def google_start(request: Request) -> Response:
    settings = _settings(request)
    if not settings.web.google_domain:
        return login_form_page(request, error="Google sign-in is not set up here.", status=404)
    from worker.google.auth import GOOGLE_AUTH_URI

    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": settings.google.oauth_client_id,
        "redirect_uri": _callback(request),
        "scope": "openid email",
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        "hd": settings.web.google_domain,
        "prompt": "select_account",
    }
    response = RedirectResponse(f"{settings.google.auth_uri or GOOGLE_AUTH_URI}?{urlencode(query)}", status_code=303)
    kept = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": safe_next(request.query_params.get("next", "/")),
    }
    response.set_cookie(
        GOOGLE_COOKIE,
        _b64(json.dumps(kept).encode()),
        max_age=_COOKIE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/login/google",
    )
    return response


@router.get("/login/google/callback", name="google_callback")
def google_callback(request: Request) -> Response:
    settings = _settings(request)
    if not settings.web.google_domain:
        return login_form_page(request, error="Google sign-in is not set up here.", status=404)
    try:
        kept = _kept(request)
        email = _verified_email(request, settings, kept)
        user, created = google_user(engine_of(request), email, role=Role(settings.web.google_role), now=_now(request))
    except Refused as exc:
        response = login_form_page(request, error=str(exc), status=403)
    except InputError as exc:
        response = login_form_page(request, error=f"Google sign-in refused: {exc}", status=403)
    else:
        if created:
            audit.record(
                engine_of(request),
                actor=f"google:{email}",
                action="user_add",
                target=f"user {email}",
                detail=f"role {user.role.value}, created at the first Google sign-in",
                now=_now(request),
            )
        response = signed_in(request, user, str(kept["next"]))
    response.delete_cookie(GOOGLE_COOKIE, path="/login/google")
    return response


def _now(request: Request) -> Any:
    return request.app.state.now()


def _kept(request: Request) -> dict[str, Any]:
    """The cookie of step 1, if this callback answers it (same ``state``)."""
    raw = request.cookies.get(GOOGLE_COOKIE, "")
    try:
        kept = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        kept = None
    if not isinstance(kept, dict) or not all(isinstance(kept.get(k), str) for k in ("state", "nonce", "verifier")):
        raise Refused("The Google sign-in expired or was started elsewhere; please try again.")
    if not hmac.compare_digest(str(kept["state"]).encode(), request.query_params.get("state", "").encode()):
        raise Refused("The Google sign-in expired or was started elsewhere; please try again.")
    error = request.query_params.get("error", "")
    if error:
        raise Refused(f"Google sign-in was not completed ({error[:60]}).")
    return kept


def _verified_email(request: Request, settings: Settings, kept: dict[str, Any]) -> str:
    """The e-mail address the ID token vouches for, after every check in the module doc."""
    import requests

    from worker.google.auth import token_uri

    code = request.query_params.get("code", "")
    if not code:
        raise Refused("Google sent no authorization code; please try again.")
    client_secret = secret(settings.google.oauth_client_secret_env)
    if client_secret is None:
        raise Refused(
            f"Google sign-in is not set up: {settings.google.oauth_client_secret_env} is not set on the server."
        )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _callback(request),
        "client_id": settings.google.oauth_client_id,
        "client_secret": client_secret.get_secret_value(),
        "code_verifier": kept["verifier"],
    }
    try:
        reply = requests.post(token_uri(settings), data=form, timeout=settings.google.timeout_seconds)
    except requests.RequestException as exc:
        raise Refused(f"Google could not be reached ({type(exc).__name__}); please try again later.") from None
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(f"Google's token endpoint answered HTTP {reply.status_code} without JSON; please try again.")
    if reply.status_code != 200:
        raise Refused(f"Google refused the sign-in ({str(body.get('error', reply.status_code))[:60]}).")
    claims = _claims(str(body.get("id_token", "")))
    domain = settings.web.google_domain
    email = str(claims.get("email", "")).lower()
    now = _now(request).timestamp()
    checks = (
        (claims.get("iss") in _ISSUERS, "it was not issued by Google"),
        (claims.get("aud") == settings.google.oauth_client_id, "it was issued to another application"),
        (isinstance(claims.get("exp"), int | float) and claims["exp"] > now, "it has expired"),
        (hmac.compare_digest(str(claims.get("nonce", "")).encode(), str(kept["nonce"]).encode()), "its nonce differs"),
        (claims.get("email_verified") is True, "the address is not verified"),
        (claims.get("hd") == domain and email.endswith(f"@{domain}"), f"the account is not in {domain}"),
    )
    for ok, why in checks:
        if not ok:
            raise Refused(f"Google sign-in refused: {why}.")
    return email


def _claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise Refused("Google sign-in refused: the ID token is malformed.") from None
    if not isinstance(claims, dict):
        raise Refused("Google sign-in refused: the ID token is malformed.")
    return claims
