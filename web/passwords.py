"""Password hashing (scrypt via Werkzeug) and API token generation."""

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

TOKEN_PREFIX = "cg_"  # noqa: S105  a public prefix, not a secret
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
# A browser drops line breaks from a password field, and HTML forms refuse NUL: a password holding
# them could be set from the command line but never typed at the sign-in form.
UNTYPABLE = frozenset("\x00\r\n")


def password_problem(password: str) -> str | None:
    """Return why a password cannot be used, or None."""
    # Spaces count like any other character, leading and trailing ones too, and sign-in compares
    # exactly what was typed; but the sign-in form takes a password of spaces alone for an empty
    # field, so such a password could never be used.
    if not password:
        return "Enter a password."
    if not password.strip():
        return "Use more than spaces: the sign-in form takes spaces alone for an empty field."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if UNTYPABLE.intersection(password):
        return "Use no line breaks or NUL characters: a sign-in form cannot take them."
    return None


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of the password."""
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    """Return True when the password matches the stored hash."""
    return check_password_hash(password_hash, password)


def new_token() -> str:
    """Return a new random bearer token (shown once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the SHA-256 of a token; tokens carry 256 random bits, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()
