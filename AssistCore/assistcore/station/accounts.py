"""Station accounts: who may sign in, with which role, and what each role may do with a case.

Accounts live in the worklist's SQLite file (table ``accounts``), so one file holds the cases, their
history and the people who work on them. Passwords are stored only as argon2id hashes (argon2-cffi:
a random salt per hash, parameters inside the hash string). Every sign-in attempt is written to
``sign_ins`` with the time, the name tried and the client address.

Roles:
- ``annotator``: sees unassigned cases and cases assigned to them; edits and submits them.
- ``reviewer``: sees every case; edits cases in review; the only role that accepts or sends back.
- ``admin``: sees every case and manages accounts; does not accept (a reviewer's decision).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..brain.worklist import Case, CaseStatus, database_path
from ..errors import InputError

#: Failed attempts for one user name within ``LOCKOUT_WINDOW_S`` after which sign-in is refused for that window.
LOCKOUT_ATTEMPTS = 5
LOCKOUT_WINDOW_S = 300.0
MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sign_ins (
    sign_in_id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    at REAL NOT NULL,
    succeeded INTEGER NOT NULL,
    address TEXT NOT NULL DEFAULT ''
);
"""


class Role(str, Enum):
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Account:
    username: str
    role: Role


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, the library's current recommended parameters


class Accounts:
    """The accounts table of a worklist file. Every method opens its own connection (safe across processes)."""

    def __init__(self, worklist_path: str | Path) -> None:
        self.path = database_path(worklist_path)
        with self._connect() as connection:
            connection.executescript(SCHEMA)
        # verifying against this when the name is unknown makes both failures take the same time
        self._dummy_hash = _hasher().hash("radassist-no-such-user")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0)

    def add(self, username: str, password: str, role: Role | str) -> Account:
        """Create an account. :raises InputError: bad name, short password, unknown role or name taken."""
        role = _role(role)
        if not _USERNAME.match(username or ""):
            raise InputError(
                f"User name {username!r} is not allowed.",
                "Use 2-64 letters, digits, dots, dashes or underscores, starting with a letter or digit.",
            )
        _check_password(password)
        with self._connect() as connection:
            try:
                connection.execute(
                    "INSERT INTO accounts (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (username, role.value, _hasher().hash(password), time.time()),
                )
            except sqlite3.IntegrityError as error:
                raise InputError(f"User {username!r} already exists in {self.path}.") from error
        return Account(username, role)

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        with self._connect() as connection:
            updated = connection.execute(
                "UPDATE accounts SET password_hash = ? WHERE username = ?", (_hasher().hash(password), username)
            ).rowcount
        if not updated:
            raise InputError(f"No user {username!r} in {self.path}.")

    def set_disabled(self, username: str, disabled: bool) -> None:
        with self._connect() as connection:
            updated = connection.execute(
                "UPDATE accounts SET disabled = ? WHERE username = ?", (int(disabled), username)
            ).rowcount
        if not updated:
            raise InputError(f"No user {username!r} in {self.path}.")

    def list(self) -> list[dict]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT username, role, disabled, created_at FROM accounts ORDER BY username"
            ).fetchall()
        return [{"username": u, "role": r, "disabled": bool(d), "created_at": c} for u, r, d, c in rows]

    def get(self, username: str) -> Account | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT username, role FROM accounts WHERE username = ? AND disabled = 0", (username,)
            ).fetchone()
        return Account(row[0], Role(row[1])) if row else None

    def locked_out(self, username: str, now: float | None = None) -> bool:
        """True after :data:`LOCKOUT_ATTEMPTS` failures for ``username`` within the last window."""
        since = (now or time.time()) - LOCKOUT_WINDOW_S
        with self._connect() as connection:
            (failures,) = connection.execute(
                "SELECT COUNT(*) FROM sign_ins WHERE username = ? AND succeeded = 0 AND at > ?", (username, since)
            ).fetchone()
        return failures >= LOCKOUT_ATTEMPTS

    def authenticate(self, username: str, password: str, address: str = "") -> Account | None:
        """The account when the password matches (and the account is enabled and not locked out), else None.

        Every attempt is logged; the reason for a refusal is not told to the caller on purpose.

        The lockout is atomic: one ``BEGIN IMMEDIATE`` transaction (the database's write lock) counts the
        recent failures and records this attempt *as failed* before the password is verified; a right
        password then turns its own record into a success. Attempts sent at the same time therefore each
        see the ones before them, so no number of concurrent wrong passwords can slip past the lockout,
        and the write lock is not held during the deliberately slow argon2 verification (saves of the
        app processes would wait for it).
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        now = time.time()
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(
                    "SELECT role, password_hash, disabled FROM accounts WHERE username = ?", (username,)
                ).fetchone()
                (failures,) = connection.execute(
                    "SELECT COUNT(*) FROM sign_ins WHERE username = ? AND succeeded = 0 AND at > ?",
                    (username[:64], now - LOCKOUT_WINDOW_S),
                ).fetchone()
                attempt_id = connection.execute(
                    "INSERT INTO sign_ins (username, at, succeeded, address) VALUES (?, ?, 0, ?)",
                    (username[:64], now, address),
                ).lastrowid
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            if failures >= LOCKOUT_ATTEMPTS:
                return None
            hasher = _hasher()
            try:
                hasher.verify(row[1] if row else self._dummy_hash, password)
                succeeded = row is not None and not row[2]
            except (VerificationError, InvalidHashError):
                succeeded = False
            if not succeeded:
                return None
            connection.execute("UPDATE sign_ins SET succeeded = 1 WHERE sign_in_id = ?", (attempt_id,))
            if hasher.check_needs_rehash(row[1]):
                connection.execute(
                    "UPDATE accounts SET password_hash = ? WHERE username = ?", (hasher.hash(password), username)
                )
            return Account(username, Role(row[0]))
        finally:
            connection.close()

    def active(self, usernames: list[str] | set[str]) -> dict[str, Account]:
        """The enabled accounts among ``usernames`` (one query; the gateway asks every few seconds)."""
        names = sorted(set(usernames))
        if not names:
            return {}
        placeholders = ", ".join("?" * len(names))
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT username, role FROM accounts WHERE disabled = 0 AND username IN ({placeholders})", names
            ).fetchall()
        return {username: Account(username, Role(role)) for username, role in rows}

    def sign_ins(self, username: str | None = None) -> list[dict]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT username, at, succeeded, address FROM sign_ins "
                + ("WHERE username = ? " if username else "")
                + "ORDER BY sign_in_id",
                (username,) if username else (),
            ).fetchall()
        return [{"username": u, "at": at, "succeeded": bool(s), "address": a} for u, at, s, a in rows]


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError as error:
        raise InputError(f"Unknown role {role!r}.", f"Choose one of: {', '.join(r.value for r in Role)}.") from error


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InputError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")


# ----- what each role may do -------------------------------------------------------------------
def can_see(account: Account, case: Case) -> bool:
    """Annotators see unassigned cases and their own; reviewers and admins see every case."""
    return account.role != Role.ANNOTATOR or case.annotator in (None, account.username)


def can_edit(account: Account, case: Case) -> bool:
    """Who may change and save the labels of ``case`` now."""
    if account.role == Role.ANNOTATOR:
        return can_see(account, case) and case.status != CaseStatus.ACCEPTED and case.status != CaseStatus.IN_REVIEW
    if account.role == Role.REVIEWER:
        return case.status == CaseStatus.IN_REVIEW
    return False


def can_review(account: Account, case: Case) -> bool:
    """Only a reviewer decides, only on a case in review, and never on a case they annotated."""
    return account.role == Role.REVIEWER and case.status == CaseStatus.IN_REVIEW and case.annotator != account.username
