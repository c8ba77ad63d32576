"""Accounts, passwords, login throttling and CSRF tokens — from well-kept parts.

- Passwords: argon2id via argon2-cffi (``PasswordHasher``); only the hash is stored.
- Sessions: Starlette's ``SessionMiddleware`` (a cookie signed with itsdangerous,
  HttpOnly, SameSite=Strict); the session holds the user name, the account's
  generation (a password change or a removal signs every session of it out) and
  the CSRF token.
- CSRF: a random per-session token (``secrets.token_urlsafe``) in the signed
  session, required on every POST as the form field ``csrf_token`` or the
  ``X-CSRF-Token`` header and compared with ``hmac.compare_digest``.
- Throttling: failed logins counted per account and per client address in a
  sliding window; past the limit every attempt — the right password too — gets
  429 until the window has passed.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import ConfigError, UsageError
from .scope import ROLES, Actor

MIN_PASSWORD = 10
_hasher = PasswordHasher()
# a hash to verify against when the account does not exist, so that timing tells nothing
_DUMMY = _hasher.hash("procmine-no-such-user")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with permissions 0600."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is too short (at least {MIN_PASSWORD} characters)")


@dataclass
class User:
    name: str
    role: str
    department: str | None
    hash: str
    generation: int = 1

    def actor(self) -> Actor:
        return Actor(self.name, self.role, self.department)


class UserStore:
    """The project's accounts: ``users.json`` (0600), argon2 hashes only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, User]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the accounts file {self.path}: {exc}",
                              hint="restore it from a backup, or create the project again with procmine serve --init")
        return {name: User(name, u["role"], u.get("department"), u["hash"], int(u.get("generation", 1)))
                for name, u in raw.get("users", {}).items()}

    def _write(self, users: dict[str, User]) -> None:
        data = {"users": {u.name: {"role": u.role, "department": u.department, "hash": u.hash,
                                   "generation": u.generation} for u in users.values()}}
        write_private(self.path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")

    def all(self) -> list[User]:
        return sorted(self._read().values(), key=lambda u: u.name)

    def get(self, name: str) -> User | None:
        return self._read().get(name)

    def add(self, name: str, password: str, role: str, department: str | None = None) -> User:
        name = (name or "").strip()
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise UsageError("an account name is 1 to 64 characters without spaces")
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        department = (department or "").strip() or None
        if role == "dept" and not department:
            raise UsageError("a 部门 account needs its department")
        if role != "dept":
            department = None
        check_password(password)
        with self._lock:
            users = self._read()
            if name in users:
                raise UsageError(f"the account {name} exists already")
            users[name] = User(name, role, department, _hasher.hash(password))
            self._write(users)
            return users[name]

    def remove(self, name: str) -> None:
        with self._lock:
            users = self._read()
            if users.pop(name, None) is not None:
                self._write(users)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self._lock:
            users = self._read()
            u = users[name]
            u.hash, u.generation = _hasher.hash(password), u.generation + 1
            self._write(users)

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (the same work either way)."""
        user = self.get(name)
        try:
            _hasher.verify(user.hash if user else _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user


class Throttle:
    """Failed logins per key (account, client address) in a sliding window."""

    def __init__(self, limit: int = 5, window_s: float = 900.0, clock=time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._fails: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        q = self._fails.setdefault(key, deque())
        cut = self.clock() - self.window_s
        while q and q[0] < cut:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        with self._lock:
            return any(len(self._recent(k)) >= self.limit for k in keys)

    def fail(self, *keys: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._fails) > 10_000:  # many names tried: forget those whose window has passed
                for k in [k for k in self._fails if not self._recent(k)]:
                    del self._fails[k]
            for k in keys:
                self._recent(k).append(now)

    def clear(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(session: dict) -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: dict, sent: str | None) -> bool:
    token = session.get("csrf")
    return bool(token) and bool(sent) and hmac.compare_digest(str(token).encode(), str(sent).encode())
