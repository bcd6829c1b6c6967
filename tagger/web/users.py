"""The web app's accounts: a JSON users file (name -> role and argon2id hash), written atomically under a
file lock, never holding a plain password. Managed by ``tagger users add|remove|list``."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from filelock import FileLock

from data.atomic import atomic_write_text

ROLES = ("reviewer", "viewer")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8


class UserError(ValueError):
    pass


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, the library's current defaults


class Users:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock")

    def load(self) -> dict[str, dict]:
        """Read fresh on every call: a user added, removed or re-roled takes effect at the next request."""
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8")).get("users", {})

    def _save(self, users: dict[str, dict]) -> None:
        atomic_write_text(self.path, json.dumps({"users": users}, indent=2, sort_keys=True))  # mode 0600

    def add(self, name: str, role: str, password: str, replace: bool = False) -> None:
        if not NAME.match(name):
            raise UserError("a user name is 1-64 letters, digits or _ . @ -")
        if role not in ROLES:
            raise UserError(f"role must be one of {list(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        digest = _hasher().hash(password)
        with self.lock:
            users = self.load()
            if name in users and not replace:
                raise UserError(f"user {name!r} exists (use --replace to change the role or password)")
            users[name] = {"role": role, "hash": digest, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            self._save(users)

    def remove(self, name: str) -> None:
        with self.lock:
            users = self.load()
            if users.pop(name, None) is None:
                raise UserError(f"no user {name!r}")
            self._save(users)

    def role(self, name: str | None) -> str | None:
        if not name:
            return None
        u = self.load().get(name)
        return u["role"] if u else None

    def verify(self, name: str, password: str) -> str | None:
        """The user's role when the password matches, else None (an unknown user costs one hash too)."""
        from argon2.exceptions import Argon2Error, InvalidHashError

        ph = _hasher()
        u = self.load().get(name)
        if u is None:
            ph.hash(password)  # same cost as a real check
            return None
        try:
            ph.verify(u["hash"], password)
        except (Argon2Error, InvalidHashError):
            return None
        if ph.check_needs_rehash(u["hash"]):
            with self.lock:
                users = self.load()
                if name in users:
                    users[name]["hash"] = ph.hash(password)
                    self._save(users)
        return u["role"]
