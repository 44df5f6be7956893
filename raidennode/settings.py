"""Settings of the node, driven by the environment only.

With no environment at all the node runs *embedded*: SQLite in ``var/``, Celery eager (tasks run
in the calling thread), a dev chain started by ``manage.py devnet``. Setting ``DATABASE_URL``,
``REDIS_URL`` and ``ETH_RPC_URL`` switches to the hosted set-up (PostgreSQL, a Celery worker and
beat on Redis, an Ethereum node of your choice). ``RAIDEN_ENVIRONMENT=production`` makes the
missing secrets fail loudly and disables the development-only endpoints (mint, register token).

Every variable is listed in docs/configuration.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RAIDEN_VAR_DIR", BASE_DIR / "var"))
# The embedded SQLite database, logs and devnet files live here; a fresh clone has no var/.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be on or off, got {value!r}")


def database_from_url(url: str) -> dict:
    """Turn ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` into a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = unquote(parsed.path)[1:]
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or str(VAR_DIR / "db.sqlite3"),
            # IMMEDIATE makes every atomic block take the write lock at BEGIN, which is how
            # SQLite serialises our services (it ignores SELECT ... FOR UPDATE).
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
        }
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        options = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")


RAIDEN_ENVIRONMENT = env_str("RAIDEN_ENVIRONMENT", "development")
if RAIDEN_ENVIRONMENT not in ("development", "production"):
    raise ImproperlyConfigured("RAIDEN_ENVIRONMENT must be development or production")
PRODUCTION = RAIDEN_ENVIRONMENT == "production"


def required_in_production(name: str, development_default: str) -> str:
    value = env_str(name)
    if value is None:
        if PRODUCTION:
            raise ImproperlyConfigured(f"{name} must be set when RAIDEN_ENVIRONMENT=production")
        return development_default
    return value


SECRET_KEY = required_in_production("SECRET_KEY", "development-only-secret-key-do-not-use-in-production-8f3b2a")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "*").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "raidennode.nodes",
    "raidennode.webui",
    "channels_app",
    "transfers_app",
    # the operator dashboard in the admin: last, it adds actions to the other apps' admins
    "raidennode.dashboard",
]

MIDDLEWARE = [
    "raidennode.api.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# Raiden answers 404 on a trailing slash; never redirect.
APPEND_SLASH = False

ROOT_URLCONF = "raidennode.urls"
WSGI_APPLICATION = "raidennode.wsgi.application"
ASGI_APPLICATION = "raidennode.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env_str("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        "raidennode": {"level": env_str("RAIDEN_LOG_LEVEL", "INFO"), "propagate": True},
        "channels_app": {"level": env_str("RAIDEN_LOG_LEVEL", "INFO"), "propagate": True},
        "transfers_app": {"level": env_str("RAIDEN_LOG_LEVEL", "INFO"), "propagate": True},
        # 4xx answers are normal API traffic, not warnings of the node.
        "django.request": {"level": "ERROR", "propagate": True},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["raidennode.api.renderers.RaidenJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    # Node resources choose their authenticators per request (raidennode.api.auth), so that
    # RAIDEN_AUTH can be switched off for the embedded demo.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "raidennode.api.errors.exception_handler",
}

# --- Celery --------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue per deployment, so two deployments (or a test run) sharing a Redis never swap tasks.
CELERY_TASK_DEFAULT_QUEUE = env_str("RAIDEN_CELERY_QUEUE", "raidennode")
CELERY_BEAT_SCHEDULE = {
    "chain-ingest": {
        "task": "channels_app.tasks.chain_ingest",
        "schedule": env_float("RAIDEN_INGEST_INTERVAL", 1.0),
        "options": {"expires": 10},
    },
    "chain-duties": {
        "task": "channels_app.tasks.chain_duties_run",
        "schedule": env_float("RAIDEN_DUTIES_INTERVAL", 2.0),
        "options": {"expires": 20},
    },
    "transfer-duties": {
        "task": "transfers_app.tasks.transfer_duties_run",
        "schedule": env_float("RAIDEN_DUTIES_INTERVAL", 2.0),
        "options": {"expires": 20},
    },
    "chain-gas-reserves": {
        "task": "channels_app.tasks.chain_gas_reserves_check",
        "schedule": 300.0,
        "options": {"expires": 120},
    },
    "chain-operations-sweep": {
        "task": "channels_app.tasks.chain_operations_sweep",
        "schedule": 15.0,
        "options": {"expires": 60},
    },
}

# --- The node ------------------------------------------------------------------------------
ETH_RPC_URL = env_str("ETH_RPC_URL", "http://127.0.0.1:8545")
# Blocks an event must be buried under before the node applies it (Raiden's default is 5).
RAIDEN_CONFIRMATIONS = env_int("RAIDEN_CONFIRMATIONS", 5)
RAIDEN_DEFAULT_SETTLE_TIMEOUT = env_int("RAIDEN_DEFAULT_SETTLE_TIMEOUT", 500)
RAIDEN_DEFAULT_REVEAL_TIMEOUT = env_int("RAIDEN_DEFAULT_REVEAL_TIMEOUT", 50)
# Seconds a chain call may take from broadcast to receipt before the API answers 408.
RAIDEN_TRANSACTION_TIMEOUT = env_float("RAIDEN_TRANSACTION_TIMEOUT", 180.0)
# Seconds a sent transaction may stay unmined before it is replaced with higher fees (same nonce).
RAIDEN_FEE_BUMP_AFTER = env_float("RAIDEN_FEE_BUMP_AFTER", 60.0)
# Seconds the API waits, after the receipt, for the confirmed event to be applied.
RAIDEN_CONFIRMATION_TIMEOUT = env_float("RAIDEN_CONFIRMATION_TIMEOUT", 300.0)
RAIDEN_PFS_URL = env_str("RAIDEN_PFS_URL")
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
RAIDEN_KEY_ENCRYPTION_KEYS = required_in_production(
    "RAIDEN_KEY_ENCRYPTION_KEYS", "ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMtISE="
)
# The node served at /api/v1 (no /nodes/<address> prefix); the oldest node when unset.
RAIDEN_DEFAULT_NODE = env_str("RAIDEN_DEFAULT_NODE")
RAIDEN_CORS_ORIGINS = [
    o.strip() for o in env_str("RAIDEN_CORS_ORIGINS", "http://localhost:*/*").split(",") if o.strip()
]
# GET /status says "syncing" when ingestion lags the confirmed head by more blocks than this.
RAIDEN_SYNC_TOLERANCE = env_int("RAIDEN_SYNC_TOLERANCE", 20)
# Where closing and settling find balance proofs (channels_app.balance_proofs).
RAIDEN_BALANCE_PROOF_SOURCE = env_str(
    "RAIDEN_BALANCE_PROOF_SOURCE", "transfers_app.balance_proofs.MessageBalanceProofs"
)
# A close first tries a cooperative settle with a co-hosted partner, as Raiden 3.0.1 does.
RAIDEN_COOPERATIVE_SETTLE = env_bool("RAIDEN_COOPERATIVE_SETTLE", True)

# --- Hosting many users ----------------------------------------------------------------------
# On: every API call needs an API token (Authorization: Token <key>, or HTTP Basic with the key
# as password) or a logged-in session, and reaches only the caller's own nodes. Off: Raiden's
# unauthenticated local API, for the embedded demo only.
RAIDEN_AUTH = env_bool("RAIDEN_AUTH", True)
# Angular (the WebUI) sends the CSRF cookie XSRF-TOKEN back as the X-XSRF-TOKEN header.
CSRF_COOKIE_NAME = "XSRF-TOKEN"
CSRF_HEADER_NAME = "HTTP_X_XSRF_TOKEN"
# Request counters of the per-node limits live in the cache: Redis, so every web process shares them.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "raidennode"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# What runs after the chain duties each round (the embedded chain loop; Celery beat runs each
# as its own task, see CELERY_BEAT_SCHEDULE): payments' lock and withdraw expiry, redelivery.
RAIDEN_EXTRA_DUTIES = ["transfers_app.services.duties.transfer_duties_run"]

# --- WebUI -----------------------------------------------------------------------------------
# The Raiden WebUI at /ui/ (raidennode.webui, docs/webui.md); with RAIDEN_AUTH on, its users sign
# in here first.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/ui/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
