"""API clients: creation (secret shown once) and request authentication."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from priorauth.auth.models import ApiClient, Organization
from priorauth.db import Database
from priorauth.ids import new_id
from priorauth.timeutil import iso

ROLES = ("provider", "reviewer", "admin")
_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    client_id: str
    organization_id: str
    role: str

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


@dataclass(frozen=True)
class CreatedClient:
    client_id: str
    organization_id: str
    role: str
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_client(db: Database, org: str, name: str, role: str = "provider") -> CreatedClient:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not _ORG_ID.match(org):
        raise ValueError("org must be lower-case letters, digits, '-' or '_' (max 63 characters)")
    if not name.strip():
        raise ValueError("name must not be blank")
    secret = "pa_sk_" + secrets.token_urlsafe(32)
    client = ApiClient(id=new_id("cli"), organization_id=org, name=name.strip(), role=role,
                       secret_hash=hash_secret(secret))
    async with db.write() as session:
        if await session.get(Organization, org) is None:
            session.add(Organization(id=org, name=org))
            await session.flush()
        session.add(client)
    return CreatedClient(client.id, org, role, secret)


def organization_json(org: Organization) -> dict:
    return {"id": org.id, "object": "organization", "name": org.name, "sandboxEnabled": org.sandbox_enabled,
            "createdAt": iso(org.created_at)}


async def get_organization(db: Database, org: str) -> Organization | None:
    async with db.read() as session:
        return await session.get(Organization, org)


async def set_sandbox(db: Database, org: str, enabled: bool) -> Organization:
    """Let every client of the organization play the sandbox payer (or only its admins again)."""
    async with db.write() as session:
        row = await session.get(Organization, org, with_for_update=True)
        if row is None:
            raise LookupError(f"no organization {org!r}")
        row.sandbox_enabled = enabled
        return row


async def count_clients(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(ApiClient))).scalar_one()


class Authenticator:
    """Resolves a bearer secret or Basic `id:secret` to a principal, with a short positive cache."""

    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[tuple[str | None, str], tuple[float, Principal]] = {}

    async def authenticate(self, authorization: str | None) -> Principal | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        client_id: str | None = None
        if scheme.lower() == "bearer":
            secret = value
        elif scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input (a plain ValueError)
                return None
        else:
            return None
        if not secret:
            return None
        digest = hash_secret(secret)
        # None (Bearer) and "" (Basic with an empty id) must not share a cache entry: the latter is a wrong id.
        key = (client_id, digest)
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        async with self.db.read() as session:
            row = (await session.execute(
                select(ApiClient).where(ApiClient.secret_hash == digest, ApiClient.disabled_at.is_(None))
            )).scalar_one_or_none()
        if row is None or (client_id is not None and not hmac.compare_digest(row.id, client_id)):
            return None
        principal = Principal(row.id, row.organization_id, row.role)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + _CACHE_SECONDS, principal)
        return principal
