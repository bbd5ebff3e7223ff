"""``/users``: admins add and remove console users and API tokens (as ``barometer users``/``tokens``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from jobs.errors import InputError
from worker import audit
from worker.web.security import Admin, engine_of, flash_url
from worker.web.templating import render
from worker.web.users import Role, add_user, create_token, list_tokens, list_users, remove_token, remove_user

__all__ = ["router"]

router = APIRouter()


def _back(error: str) -> Response:
    return RedirectResponse(flash_url("/users", error, error=True), status_code=303)


@router.get("/users")
def users(request: Request, user: Admin) -> Response:
    engine = engine_of(request)
    return render(
        request,
        "users.html",
        users=list_users(engine),
        tokens=list_tokens(engine),
        roles=[r.value for r in Role],
        new_token="",
    )


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise InputError(f"role: {text!r} is not one of viewer, analyst, admin") from None


@router.post("/users")
def create_user(
    request: Request,
    *,
    user: Admin,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    try:
        made = add_user(engine, name.strip(), role=_role(role), password=password, now=now)
    except InputError as exc:
        return _back(str(exc))
    audit.record(
        engine, actor=user.name, action="user_add", target=f"user {made.name}", detail=made.role.value, now=now
    )
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/remove")
def delete_user(request: Request, name: str, user: Admin) -> Response:
    if name == user.name:
        return _back("you cannot remove yourself (another admin can)")
    engine, now = engine_of(request), request.app.state.now()
    try:
        removed = remove_user(engine, name)
    except InputError as exc:
        return _back(str(exc))
    audit.record(engine, actor=user.name, action="user_remove", target=f"user {removed.name}", now=now)
    return RedirectResponse("/users", status_code=303)


@router.post("/tokens")
def new_token(
    request: Request, *, user: Admin, name: Annotated[str, Form()], role: Annotated[str, Form()] = "viewer"
) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    try:
        chosen = _role(role)
        token = create_token(engine, name.strip(), role=chosen, now=now)
    except InputError as exc:
        return _back(str(exc))
    audit.record(
        engine, actor=user.name, action="token_create", target=f"token {name.strip()}", detail=chosen.value, now=now
    )
    return render(
        request,
        "users.html",
        users=list_users(engine),
        tokens=list_tokens(engine),
        roles=[r.value for r in Role],
        new_token=token,
        flash=f"Token {name.strip()} created. Copy it now: it is not shown again.",
    )


@router.post("/tokens/{name}/remove")
def delete_token(request: Request, name: str, user: Admin) -> Response:
    engine, now = engine_of(request), request.app.state.now()
    try:
        remove_token(engine, name)
    except InputError as exc:
        return _back(str(exc))
    audit.record(engine, actor=user.name, action="token_remove", target=f"token {name}", now=now)
    return RedirectResponse("/users", status_code=303)
