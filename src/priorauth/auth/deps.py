"""FastAPI dependencies: who is calling, and may they."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from priorauth.auth.service import Principal
from priorauth.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="priorauth", Bearer realm="priorauth"'}


async def principal(request: Request) -> Principal:
    found = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    if found is None:
        raise ApiError(401, "unauthorized", "Missing or invalid credentials: send 'Authorization: Bearer <secret>' "
                       "or HTTP Basic with client id and secret.", headers=_CHALLENGE)
    return found


def require_role(*roles: str):
    async def check(request: Request) -> Principal:
        who = await principal(request)
        if not who.has_role(*roles):
            raise ApiError(403, "forbidden", f"This action needs the {' or '.join(roles)} role.")
        return who
    return check


# The authenticated caller, as a route parameter annotation.
Who = Annotated[Principal, Depends(principal)]
