"""Password hashing (scrypt via Werkzeug) and API token generation."""

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

TOKEN_PREFIX = "cg_"  # noqa: S105  a public prefix, not a secret
MIN_PASSWORD_LENGTH = 10


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
