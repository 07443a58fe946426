"""pixaudit settings: one module, driven by the environment.

A fresh checkout runs with nothing set: SQLite under ``var/``, artifacts on the local disk,
jobs run in-process. Production is switched on with ``PIXAUDIT_ENV=production`` and the
variables in the README's configuration table. A malformed value stops start-up with a
message that names the variable (see ``pixaudit.lib.env``).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pixaudit.lib.env import env_bool, env_choice, env_int, env_int_list, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PIXAUDIT_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

PIXAUDIT_ENV = env_choice("PIXAUDIT_ENV", ("development", "production", "test"), "development")
PRODUCTION = PIXAUDIT_ENV == "production"
DEBUG = env_bool("DEBUG", default=PIXAUDIT_ENV == "development")
PIXAUDIT_VERSION = "0.1.0"


def _development_secret_key() -> str:
    # Generated once and kept under var/ so sessions survive restarts of a dev server;
    # never used in production, where SECRET_KEY must be given explicitly.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = env_str("SECRET_KEY") or ""
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PIXAUDIT_ENV=production")
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the site's host names in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pixaudit.accounts",
    "pixaudit.auditlog",
    "pixaudit.audits",
    "pixaudit.controls",
    "pixaudit.evidence",
    "pixaudit.posture",
    "pixaudit.dashboard",
    "pixaudit.reports",
    "pixaudit.reviews",
    "pixaudit.manualevidence",
    "pixaudit.commitments",
    "pixaudit.exceptions",
    "pixaudit.notifications",
    "pixaudit.tasks",
    "rest_framework",
    "drf_spectacular",
    "pixaudit.api",
    "pixaudit.awsorg",
    "pixaudit.people",
    "pixaudit.vendors",
    "pixaudit.privacy",
    "pixaudit.changes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "pixaudit.accounts.middleware.MFAEnforcementMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pixaudit.lib.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "pixaudit.urls"
WSGI_APPLICATION = "pixaudit.wsgi.application"
ASGI_APPLICATION = "pixaudit.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pixaudit.lib.context_processors.pixaudit",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'pixaudit.sqlite3'}"
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
if _db.get("ENGINE") not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a collection writes; the timeout rides out the
    # short write lock instead of failing with "database is locked".
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Refuses locked usernames/addresses before any password check (pixaudit.accounts.lockout).
AUTHENTICATION_BACKENDS = ["pixaudit.accounts.backends.LockoutModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Single sign-on (OpenID Connect, mozilla-django-oidc; pixaudit.accounts.oidc) ---------
# Off unless OIDC_RP_CLIENT_ID is set. Endpoints come from OIDC_OP_DISCOVERY_URL (the
# provider's /.well-known/openid-configuration, read on first use) or from the explicit
# OIDC_OP_*_ENDPOINT variables. Local accounts keep signing in with a password either way.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID") or ""
PIXAUDIT_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET") or ""
OIDC_OP_DISCOVERY_URL = env_str("OIDC_OP_DISCOVERY_URL") or ""
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER") or ""
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT") or ""
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT") or ""
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT") or ""
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT") or ""
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
# The button's words on the sign-in page, e.g. "Okta" or "Google Workspace".
PIXAUDIT_OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
# Role from a claim: OIDC_ROLE_MAP="pixaudit-admins=admin,compliance=compliance_manager,
# engineering=engineer" maps values of OIDC_ROLE_CLAIM (a string or a list, e.g. groups);
# the first pair that matches wins. Without a match OIDC_DEFAULT_ROLE applies, or sign-in is
# refused when it is empty.
PIXAUDIT_OIDC_ROLE_CLAIM = env_str("OIDC_ROLE_CLAIM", "groups")
PIXAUDIT_OIDC_DEFAULT_ROLE = env_str("OIDC_DEFAULT_ROLE", "")
PIXAUDIT_OIDC_ROLE_MAP: list[tuple[str, str]] = []
for _pair in env_list("OIDC_ROLE_MAP"):
    _value, _sep, _role = _pair.partition("=")
    if not _sep or _role.strip() not in ("admin", "compliance_manager", "engineer"):
        raise ImproperlyConfigured(
            f"OIDC_ROLE_MAP: {_pair!r} must be value=role with role admin, "
            "compliance_manager or engineer"
        )
    PIXAUDIT_OIDC_ROLE_MAP.append((_value.strip(), _role.strip()))
if PIXAUDIT_OIDC_DEFAULT_ROLE not in ("", "admin", "compliance_manager", "engineer"):
    raise ImproperlyConfigured("OIDC_DEFAULT_ROLE must be admin, compliance_manager or engineer")
# Authentication methods (the ID token's amr claim) accepted as the provider's second
# factor for roles that require MFA; without one they also verify their pixaudit TOTP.
PIXAUDIT_OIDC_MFA_AMR = env_list("OIDC_MFA_AMR", ["mfa", "otp", "hwk", "swk", "sms", "fpt"])
if PIXAUDIT_OIDC_ENABLED:
    if not OIDC_RP_CLIENT_SECRET:
        raise ImproperlyConfigured("OIDC_RP_CLIENT_SECRET must be set with OIDC_RP_CLIENT_ID")
    _missing = [
        name
        for name in (
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
        )  # fmt: skip
        if not globals()[name]
    ]
    if _missing and not OIDC_OP_DISCOVERY_URL:
        raise ImproperlyConfigured(
            f"single sign-on needs OIDC_OP_DISCOVERY_URL or {', '.join(_missing)}"
        )
    AUTHENTICATION_BACKENDS = [
        *AUTHENTICATION_BACKENDS,
        "pixaudit.accounts.oidc.PixauditOIDCBackend",
    ]

LANGUAGE_CODE = "en-us"
# Everything is stored in UTC; PIXAUDIT_DISPLAY_TZ is the organisation's zone for display.
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True
PIXAUDIT_DISPLAY_TZ = env_str("PIXAUDIT_DISPLAY_TZ", "UTC")
# One date format on every page and in every PDF: ISO 8601 days, 24-hour times with the zone
# (pixaudit.lib.display; pixaudit/formats overrides the English locale's "Dec. 20, 2026").
FORMAT_MODULE_PATH = ["pixaudit.formats"]
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i T"
PIXAUDIT_ORG_NAME = env_str("PIXAUDIT_ORG_NAME", "PixMuse AI")

# --- Static files and artifact storage ------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
PIXAUDIT_S3_BUCKET = env_str("PIXAUDIT_S3_BUCKET")
if PIXAUDIT_S3_BUCKET:
    # Evidence artifacts on S3 (django-storages); AWS credentials come from the standard chain.
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": PIXAUDIT_S3_BUCKET,
            "location": env_str("PIXAUDIT_S3_PREFIX", "pixaudit"),
            "file_overwrite": False,
            "default_acl": None,
            "object_parameters": {"ServerSideEncryption": "AES256"},
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
# The largest evidence artifact (canonical JSON) a collection or an append may store; a
# collection above it fails with a message naming both sizes (default 256 MiB).
PIXAUDIT_ARTIFACT_MAX_BYTES = env_int(
    "PIXAUDIT_ARTIFACT_MAX_BYTES", 256 * 1024 * 1024, minimum=64 * 1024
)
# Evidence pack builds (pixaudit.reports): the stored ZIP of a build older than this many
# days is removed by the daily sweep, except the latest successful build of each report (and,
# for engagement builds, of each requester); the build's row and digests stay.
PIXAUDIT_PACK_RETENTION_DAYS = env_int("PIXAUDIT_PACK_RETENTION_DAYS", 30, minimum=1)
# AWS collectors (issue 17): threads for one account's per-resource calls, and caps per
# service ("s3=4,kms=2"). botocore's adaptive retry mode paces each client on throttling
# on top. The collectors (no Django) read the same two variables from the environment;
# they are validated here and the values written back (so the _FILE form works too).
PIXAUDIT_AWS_CONCURRENCY = env_int("PIXAUDIT_AWS_CONCURRENCY", 16, minimum=1)
PIXAUDIT_AWS_API_CONCURRENCY = (env_str("PIXAUDIT_AWS_API_CONCURRENCY", "") or "").strip()
if PIXAUDIT_AWS_API_CONCURRENCY and not re.fullmatch(
    r"[a-z0-9-]+=[1-9][0-9]*(,[a-z0-9-]+=[1-9][0-9]*)*",
    PIXAUDIT_AWS_API_CONCURRENCY.replace(" ", ""),
):
    raise ImproperlyConfigured(
        f"PIXAUDIT_AWS_API_CONCURRENCY={PIXAUDIT_AWS_API_CONCURRENCY!r} must be "
        "comma-separated service=threads pairs with threads >= 1, e.g. s3=4,kms=2"
    )
os.environ["PIXAUDIT_AWS_CONCURRENCY"] = str(PIXAUDIT_AWS_CONCURRENCY)
os.environ["PIXAUDIT_AWS_API_CONCURRENCY"] = PIXAUDIT_AWS_API_CONCURRENCY
# Signed checkpoints of the chain head: written after appends and by the periodic evidence
# job at most every N minutes while the head moves; on S3, optionally under Object Lock
# (the bucket must have Object Lock enabled) for LOCK_DAYS in LOCK_MODE.
PIXAUDIT_CHECKPOINT_MINUTES = env_int("PIXAUDIT_CHECKPOINT_MINUTES", 15, minimum=1)
PIXAUDIT_CHECKPOINT_LOCK_DAYS = env_int("PIXAUDIT_CHECKPOINT_LOCK_DAYS", 0, minimum=0)
PIXAUDIT_CHECKPOINT_LOCK_MODE = env_choice(
    "PIXAUDIT_CHECKPOINT_LOCK_MODE", ("compliance", "governance"), "compliance"
)
if PIXAUDIT_CHECKPOINT_LOCK_DAYS and not PIXAUDIT_S3_BUCKET:
    raise ImproperlyConfigured(
        "PIXAUDIT_CHECKPOINT_LOCK_DAYS needs the S3 artifact store (PIXAUDIT_S3_BUCKET)"
    )
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Jobs (django-rq) -----------------------------------------------------------------------
# With REDIS_URL unset every queue runs its jobs in-process (ASYNC False) on an embedded
# in-memory Redis, so a fresh checkout needs no server. With REDIS_URL set, jobs go to real
# queues served by `manage.py rqworker default collect reports`.
REDIS_URL = env_str("REDIS_URL") or ""
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must be a redis://, rediss:// or unix:// URL")
JOBS_IN_PROCESS = not REDIS_URL
_queue_connection = (
    {"URL": REDIS_URL} if REDIS_URL else {"USE_REDIS_CACHE": "pixaudit-embedded-redis"}
)
RQ_QUEUES = {
    "collect": {**_queue_connection, "DEFAULT_TIMEOUT": 1800, "ASYNC": not JOBS_IN_PROCESS},
    "reports": {**_queue_connection, "DEFAULT_TIMEOUT": 1800, "ASYNC": not JOBS_IN_PROCESS},
    "default": {**_queue_connection, "DEFAULT_TIMEOUT": 600, "ASYNC": not JOBS_IN_PROCESS},
}
# Enqueue only when the surrounding transaction commits (django-rq's default, stated here
# because the runner relies on it: a job never sees rows its enqueuer rolled back).
# PixauditQueue is django-rq's queue, made asynchronous while the embedded worker runs.
RQ = {"COMMIT_MODE": "on_db_commit", "QUEUE_CLASS": "pixaudit.lib.embedded_worker.PixauditQueue"}
# With the embedded queue, the web process (runserver, `make demo`, gunicorn) serves the queues
# in background threads so that no page waits for a job (pixaudit.lib.embedded_worker);
# False runs jobs inside the request again, as command-line tools always do.
PIXAUDIT_EMBEDDED_WORKER = env_bool("PIXAUDIT_EMBEDDED_WORKER", default=True)
RQ_SHOW_ADMIN_LINK = True
# Seconds before attempt 2, 3, ... of a transiently failed collection (the scheduler tick
# hands a retry to the workers once it is due; the last value repeats).
PIXAUDIT_RETRY_BACKOFF_SECONDS = env_int_list(
    "PIXAUDIT_RETRY_BACKOFF_SECONDS", [30, 120], minimum=0
)
# How long a run whose database connection broke keeps reconnecting to record why it failed.
PIXAUDIT_DB_RECONNECT_SECONDS = env_int("PIXAUDIT_DB_RECONNECT_SECONDS", 30, minimum=0)

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pixaudit-embedded-redis": {"BACKEND": "pixaudit.lib.embedded_redis.EmbeddedRedisCache"},
    # API rate-limit counters (pixaudit.api.throttling): shared by every web process through
    # Redis when there is one, per process otherwise.
    "api": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pixaudit-api",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}
    ),
}

# --- REST API (pixaudit.api) -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pixaudit.api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["pixaudit.api.permissions.ScopeAndRole"],
    "DEFAULT_THROTTLE_CLASSES": [
        "pixaudit.api.throttling.TokenRateThrottle",
        "pixaudit.api.throttling.IpRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "pixaudit.api.pagination.IdCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pixaudit.api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "pixaudit API",
    "DESCRIPTION": "Compliance evidence: read posture, findings and evidence; push evidence "
    "from CI; request and download reports. Token authentication (Authorization: Bearer "
    "pxa_…), RFC 9457 errors.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pixaudit.api.schema.postprocess",
    ],
    "OAS_VERSION": "3.1.0",
    # Several models have a ``status``: the report's gets its own name.
    "ENUM_NAME_OVERRIDES": {"ReportStatusEnum": "pixaudit.reports.models.ReportStatus"},
}
# Tokens: default and maximum lifetime (days); rate limits per token and per client address.
PIXAUDIT_API_TOKEN_DAYS = env_int("PIXAUDIT_API_TOKEN_DAYS", 90, minimum=1)
PIXAUDIT_API_TOKEN_MAX_DAYS = env_int("PIXAUDIT_API_TOKEN_MAX_DAYS", 365, minimum=1)
PIXAUDIT_API_RATE_PER_TOKEN = env_str("PIXAUDIT_API_RATE_PER_TOKEN", "600/minute")
PIXAUDIT_API_RATE_PER_IP = env_str("PIXAUDIT_API_RATE_PER_IP", "1200/minute")
for _name in ("PIXAUDIT_API_RATE_PER_TOKEN", "PIXAUDIT_API_RATE_PER_IP"):
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must look like 600/minute (n/second|minute|hour|day)")

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
CSRF_COOKIE_HTTPONLY = True
# Auditors are external: their sessions end sooner (set on login, pixaudit.accounts.signals).
PIXAUDIT_AUDITOR_SESSION_SECONDS = env_int(
    "PIXAUDIT_AUDITOR_SESSION_SECONDS", 2 * 3600, minimum=300
)
# Sign-in throttling (pixaudit.accounts.lockout).
PIXAUDIT_LOGIN_MAX_FAILURES = env_int("PIXAUDIT_LOGIN_MAX_FAILURES", 5, minimum=1)
PIXAUDIT_LOGIN_MAX_FAILURES_PER_IP = env_int("PIXAUDIT_LOGIN_MAX_FAILURES_PER_IP", 20, minimum=1)
PIXAUDIT_LOGIN_WINDOW_SECONDS = env_int("PIXAUDIT_LOGIN_WINDOW_SECONDS", 900, minimum=60)
PIXAUDIT_LOGIN_LOCKOUT_SECONDS = env_int("PIXAUDIT_LOGIN_LOCKOUT_SECONDS", 900, minimum=60)
# Auditor invitations: how long a new invitation (and the access it grants) lasts by default.
PIXAUDIT_INVITATION_DAYS = env_int("PIXAUDIT_INVITATION_DAYS", 30, minimum=1)
OTP_TOTP_ISSUER = f"pixaudit ({PIXAUDIT_ORG_NAME})"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Access reviews, manual evidence, commitments -----------------------------------------
# Uploads above this size are refused while they stream in (default 25 MB).
PIXAUDIT_MANUAL_MAX_BYTES = env_int("PIXAUDIT_MANUAL_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
# Days to answer a data-subject request (pixaudit.privacy); stored on each request when recorded.
PIXAUDIT_DSR_DUE_DAYS = env_int("PIXAUDIT_DSR_DUE_DAYS", 30, minimum=1)
# Called after each committed collection, push and append
# (pixaudit.evidence.services.ingest.evidence_post_ingest):
# access reviews check whether revoked access was removed.
PIXAUDIT_POST_INGEST_HOOKS = [
    "pixaudit.reviews.services.followups.followups_after_ingest",
    # A signed checkpoint of the chain head when one is due (pixaudit.evidence.checkpoints).
    "pixaudit.evidence.services.checkpoints.chain_checkpoint_after_ingest",
    # The daily coverage rollup (pixaudit.posture.rollup; rebuilt by manage.py coverage_rebuild).
    "pixaudit.posture.rollup.coverage_after_ingest",
    # The exceptions register follows the chain (pixaudit.exceptions.services.exceptions_sync).
    "pixaudit.exceptions.services.exceptions_after_ingest",
    # Controls that turned failing or recovered: remediation tasks and notifications.
    "pixaudit.tasks.automation.tasks_after_ingest",
    # Pull requests or change tickets collected: enqueue the change-ticket join (pixaudit.changes).
    "pixaudit.changes.services.change_tickets_after_ingest",
]
# Remediation deadline of an exception, in days from when it opened, per severity (info: none).
PIXAUDIT_EXCEPTION_DEADLINE_DAYS = {
    "critical": env_int("PIXAUDIT_EXCEPTION_DAYS_CRITICAL", 7, minimum=1),
    "high": env_int("PIXAUDIT_EXCEPTION_DAYS_HIGH", 30, minimum=1),
    "medium": env_int("PIXAUDIT_EXCEPTION_DAYS_MEDIUM", 90, minimum=1),
    "low": env_int("PIXAUDIT_EXCEPTION_DAYS_LOW", 180, minimum=1),
}
# Notification deliveries: seconds before attempt 2, 3, ... (the last value repeats), and
# how many attempts in all before a delivery is failed for good.
PIXAUDIT_NOTIFY_BACKOFF_SECONDS = env_int_list(
    "PIXAUDIT_NOTIFY_BACKOFF_SECONDS", [30, 120, 600, 3600], minimum=0
)
PIXAUDIT_NOTIFY_MAX_ATTEMPTS = env_int("PIXAUDIT_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
# Base URL for links in reminder e-mails (e.g. https://pixaudit.example.com).
PIXAUDIT_BASE_URL = env_str("PIXAUDIT_BASE_URL", "http://localhost:8000")

# --- Collector secrets in transit -----------------------------------------------------------
# Collectors send credentials only over HTTPS (collectors.destinations). True lets them use
# plain HTTP to a loopback address, for the tests' local fixture servers only: deliberately
# not read from the environment, and off here; tests/settings.py switches it on.
PIXAUDIT_ALLOW_HTTP_LOOPBACK = False

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "pixaudit@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "rq.worker": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
