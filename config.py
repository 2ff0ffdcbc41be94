"""Configuration from the environment, with safe defaults for a development machine."""

import os
import secrets
from pathlib import Path
from typing import Any

TRUE = {"1", "true", "yes", "on"}


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in TRUE


def _dev_secret(instance: Path) -> str:
    """Keep a random development key in the instance folder so sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def from_env(instance_path: str) -> dict[str, Any]:
    """Build the configuration mapping from environment variables."""
    instance = Path(instance_path)
    env = os.environ.get("APP_ENV", "production").strip().lower()
    default_db = f"sqlite:///{instance / 'channelguard.db'}"
    secret = os.environ.get("SECRET_KEY")
    if not secret and env in {"development", "testing"}:
        secret = _dev_secret(instance)
    return {
        "APP_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SMTP_HOST": os.environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("SMTP_USER") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "SMTP_TIMEOUT": float(os.environ.get("SMTP_TIMEOUT", "10")),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "ChannelGuard <channelguard@localhost>"),
        "SCHEDULER_ENABLED": _bool("SCHEDULER_ENABLED", False),
        "NAMED_ACCOUNTS_URL": os.environ.get("NAMED_ACCOUNTS_URL") or None,
        "WEBHOOK_URLS": [u for u in os.environ.get("WEBHOOK_URLS", "").split(",") if u.strip()],
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
        # How many reverse proxies (load balancers) stand in front of the app and set the
        # X-Forwarded-* headers. 0 trusts none, so a client cannot forge its address.
        "TRUSTED_PROXY_HOPS": int(os.environ.get("TRUSTED_PROXY_HOPS", "0")),
        # memory:// counts per process; redis://host:port/db shares the counts between instances.
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Keeps this program's counts apart from anything else kept in the same store.
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "channelguard"),
        # A shared store that stops answering must not stop the API: count in memory until it
        # answers again, and give up on it quickly rather than hold every request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_TIMEOUT": float(os.environ.get("RATELIMIT_STORAGE_TIMEOUT", "0.5")),
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "300 per minute"),
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_WINDOW_SECONDS": int(os.environ.get("LOGIN_WINDOW_SECONDS", "900")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env == "production"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }
