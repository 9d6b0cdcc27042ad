"""API clients: creation and rotation (secret shown once), listing, revocation, and request authentication."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from priorauth.auth.models import ApiClient, Organization
from priorauth.db import Database
from priorauth.ids import new_id
from priorauth.timeutil import iso, utcnow

ROLES = ("provider", "reviewer", "admin")
_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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


@dataclass(frozen=True)
class ClientInfo:
    """What may be shown about a client: never its secret or the secret's hash."""
    client_id: str
    organization_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return "pa_sk_" + secrets.token_urlsafe(32)


def _info(row: ApiClient) -> ClientInfo:
    return ClientInfo(row.id, row.organization_id, row.name, row.role, row.created_at, row.disabled_at)


async def create_client(db: Database, org: str, name: str, role: str = "provider") -> CreatedClient:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not _ORG_ID.match(org):
        raise ValueError("org must be lower-case letters, digits, '-' or '_' (max 63 characters)")
    if not name.strip():
        raise ValueError("name must not be blank")
    secret = _new_secret()
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


async def list_clients(db: Database, org: str | None = None) -> list[ClientInfo]:
    query = select(ApiClient).order_by(ApiClient.organization_id, ApiClient.created_at, ApiClient.id)
    if org is not None:
        query = query.where(ApiClient.organization_id == org)
    async with db.read() as session:
        return [_info(row) for row in (await session.execute(query)).scalars()]


async def _locked_client(session: AsyncSession, client_id: str) -> ApiClient:
    row = (await session.execute(select(ApiClient).where(ApiClient.id == client_id).with_for_update())
           ).scalar_one_or_none()
    if row is None:
        raise ValueError(f"no API client {client_id!r}")
    return row


async def revoke_client(db: Database, client_id: str) -> tuple[ClientInfo, bool]:
    """Stop a client's secret for good; the next request with it is refused in every process.
    Returns the client and whether this call revoked it (False: it already was)."""
    async with db.write() as session:
        row = await _locked_client(session, client_id)
        newly = row.disabled_at is None
        if newly:
            row.disabled_at = utcnow()
        return _info(row), newly


async def rotate_secret(db: Database, client_id: str) -> CreatedClient:
    """A new secret for a client (shown once); the old one stops working at once."""
    async with db.write() as session:
        row = await _locked_client(session, client_id)
        if row.disabled_at is not None:
            raise ValueError(f"API client {client_id!r} is revoked; create a new one instead")
        secret = _new_secret()
        row.secret_hash = hash_secret(secret)
        return CreatedClient(row.id, row.organization_id, row.role, secret)


class Authenticator:
    """Resolves a bearer secret or Basic `id:secret` to a principal.

    No cache: one lookup on the unique index of secret hashes per request, so a secret that is revoked or
    rotated (by `priorauth clients` in another process) is refused on the very next request. A cache would
    need a check of the database per request to learn of revocations at once, which costs as much."""

    def __init__(self, db: Database):
        self.db = db

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
        row = await self.db.first(select(ApiClient.id, ApiClient.organization_id, ApiClient.role).where(
            ApiClient.secret_hash == hash_secret(secret), ApiClient.disabled_at.is_(None)))
        # Basic names the client too (an empty id is a wrong id, not "any").
        if row is None or (client_id is not None and not hmac.compare_digest(row.id, client_id)):
            return None
        return Principal(row.id, row.organization_id, row.role)
