"""Nexus settings: one file, every value from the environment.

Development needs nothing set: SQLite in var/, no Redis (in-memory channel
layer, ORM broker for django-q2). The run script starts an embedded Redis and
exports REDIS_URL. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS and DEBUG=off (the default).
"""

import ipaddress
import os
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

_ON_WORDS = ("on", "true", "yes", "1")
_OFF_WORDS = ("off", "false", "no", "0")


def env_bool(name: str, *, default: bool) -> bool:
    """An on/off setting. Any other word stops the start: a typo must not quietly turn a switch off."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _ON_WORDS:
        return True
    if raw in _OFF_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={os.environ[name]!r} is not an on/off value: use one of {', '.join(_ON_WORDS + _OFF_WORDS)}."
    )


# Under pytest: a throwaway key, plain HTTP for the live server, tasks run
# inline, and no Redis unless a test run asks for one explicitly.
TESTING = "pytest" in sys.modules
if TESTING:
    for name, value in {
        "SECRET_KEY": "test-only-secret-key",
        "ALLOWED_HOSTS": "*",
        "SECURE_SSL_REDIRECT": "off",
        "SESSION_COOKIE_SECURE": "off",
        "CSRF_COOKIE_SECURE": "off",
        "SECURE_HSTS_SECONDS": "0",
        "Q_SYNC": "on",
    }.items():
        os.environ.setdefault(name, value)
    os.environ["REDIS_URL"] = os.environ.get("NEXUS_TEST_REDIS_URL", "")

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="" if not DEBUG else "dev-only-insecure-key")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=on for development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.usersessions",
    "django_htmx",
    "django_filters",
    "template_partials",
    "csp",
    "channels",
    "django_q",
    "health_check",
    "django_prometheus",
    "apps.users",
    "apps.ledger",
    "apps.audit",
    "apps.markets",
    "apps.accounts",
    "apps.billing",
    "apps.revenue",
    "apps.trading",
    "apps.notifications",
    "apps.realtime",
    "apps.bots",
    "apps.deriv",
    "apps.deriv.provider",
    "apps.exchanges",
    "apps.dashboard",
    "apps.retention",
    "apps.ops",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # /health/, /ready/ and /metrics, answered before host validation and the HTTPS redirect.
    "apps.ops.middleware.OpsEndpointsMiddleware",
    "apps.ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.common.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.ops.middleware.UserIdMiddleware",
    # The signed-in trader's own time zone for every date shown (Settings > Profile).
    "apps.users.middleware.UserTimezoneMiddleware",
    # A partner's ?ref= link, kept in a signed cookie until sign-up (apps.revenue).
    "apps.revenue.middleware.ReferralCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "apps.users.mfa.StaffMFAMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "nexus.urls"
WSGI_APPLICATION = "nexus.wsgi.application"
ASGI_APPLICATION = "nexus.asgi.application"

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
                "apps.accounts.context_processors.active_account",
                "apps.notifications.context_processors.bell",
                "apps.common.context_processors.live_updates",
                "apps.common.context_processors.nav_section",
                "apps.users.context_processors.self_exclusion",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite by default: WAL so readers never block the writer, IMMEDIATE
# transactions so a transaction takes the write lock at BEGIN (no deadlock on
# lock upgrade), and a busy timeout so writers queue instead of failing.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'nexus.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_S", default=30),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not the shared-cache in-memory database: shared cache uses
    # table locks that ignore the busy timeout, which breaks threaded tests.
    # One per test process, so parallel runs never share a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env_bool("DB_POOL", default=False):
        # A pool of connections for the whole process (psycopg's, through
        # Django): set by nexus/asgi.py for the web processes, which never fork.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# django-prometheus's wrappers of the same backends count queries, errors and connections.
_PROMETHEUS_BACKENDS = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_BACKENDS.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, cache, task broker -----------------------------


def redis_channel_layers(url: str) -> dict:
    # Redis Pub/Sub: one PUBLISH per group message, fanned out inside each web
    # process, against several round trips and a Lua script per message for
    # the list-based core layer. bench/fanout.py measured it at 1,000 sockets:
    # 1.7x the deliveries per second, a third of the publish time per tick.
    # Pub/Sub keeps no queue: live data is not replayed, pages resync on
    # reconnect, and consumers drop ticks that arrive too late to matter.
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [url]},
        }
    }


def redis_caches(url: str) -> dict:
    # Nothing in the cache is the only copy of anything (rate limit counters,
    # used TOTP codes, the signals monitor's flag): while Redis is out of
    # reach the cache answers as an empty one, and allauth's rate limits fail
    # open with a warning in the log, rather than every sign-in answering 500
    # (apps/common/cache.py). Short socket timeouts: a Redis that stops
    # answering costs a request a second, not a hang.
    return {
        "default": {
            "BACKEND": "apps.common.cache.DegradingRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }


REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL)
    CACHES = redis_caches(REDIS_URL)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "nexus",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 90,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "sync": env_bool("Q_SYNC", default=False),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Backtests run on their own queue, served by a second cluster started with
# Q_CLUSTER_NAME=backtests (`manage.py qcluster`): a long backtest never holds
# up settlement or the bots' decision cycles, and gets a longer time limit.
# A run that outlives the limit is stopped by the worker and marked FAILED.
BACKTESTS = {
    "CLUSTER": "backtests",
    "TIMEOUT_S": env.int("BACKTEST_TIMEOUT_S", default=1800),
    "MAX_TICKS": env.int("BACKTEST_MAX_TICKS", default=3_000_000),
    "MAX_ACTIVE": env.int("BACKTEST_MAX_ACTIVE", default=2),
}
Q_CLUSTER["ALT_CLUSTERS"] = {
    BACKTESTS["CLUSTER"]: {
        # One process per CPU: backtests run side by side, each on its own core.
        "workers": env.int("Q_BACKTEST_WORKERS", default=len(os.sched_getaffinity(0)) or 1),
        "timeout": BACKTESTS["TIMEOUT_S"],
        # django-q2 hands a task to another worker after `retry` seconds: longer than the limit.
        "retry": BACKTESTS["TIMEOUT_S"] + 60,
        # A killed or failed backtest is not run again: its row says FAILED and why.
        "max_attempts": 1,
    }
}

# Per-user limits on writes, as "count/period" (period: s, m, h or d), counted
# in the cache (Redis in production): an answer over the limit is a 429 with
# the message, and nothing is written (apps/common/ratelimit.py).
RATE_LIMITS = {
    "purchases": env.str("RATE_LIMIT_PURCHASES", default="60/m"),
    "demo_resets": env.str("RATE_LIMIT_DEMO_RESETS", default="5/h"),
    "bot_writes": env.str("RATE_LIMIT_BOT_WRITES", default="30/m"),
    "backtests": env.str("RATE_LIMIT_BACKTESTS", default="10/h"),
    "deriv_refresh": env.str("RATE_LIMIT_DERIV_REFRESH", default="6/m"),
    "exchange_connects": env.str("RATE_LIMIT_EXCHANGE_CONNECTS", default="10/h"),
}
for _scope, _rate in RATE_LIMITS.items():
    if not re.fullmatch(r"[1-9][0-9]*/[smhd]", _rate):
        raise ImproperlyConfigured(
            f"RATE_LIMIT_{_scope.upper()}={_rate!r}: write count/period, e.g. 60/m (s, m, h or d)."
        )
# Live sockets: messages a socket may send per second, and sockets one user
# may hold open at once (every tab has one); over either, the socket is closed
# with code 4429 and the reason.
WS_LIMITS = {
    "MESSAGES_PER_SECOND": env.int("WS_MESSAGES_PER_SECOND", default=20),
    "SOCKETS_PER_USER": env.int("WS_SOCKETS_PER_USER", default=10),
}

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
# Signed in, a trader lands on their dashboard (the trade page is one click from it).
LOGIN_REDIRECT_URL = "dashboard:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "apps.users.adapter.AccountAdapter"
# Emails say which product sends them ("Nexus: Confirm your email address"), not the host name.
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Nexus: "
# allauth's default rate limits (failed logins, sign-ups, resets...) apply, on the
# shared cache; they fail open, with a warning logged, while Redis is out of reach.
ACCOUNT_RATE_LIMITS_ENABLED = env_bool("ACCOUNT_RATE_LIMITS_ENABLED", default=True)
if not ACCOUNT_RATE_LIMITS_ENABLED:
    ACCOUNT_RATE_LIMITS = False  # allauth reads this name, not the one above
# Two-factor authentication (an authenticator app, with recovery codes): anyone
# may set it up; staff must before the admin (apps/users/mfa.py), whose own
# login form forwards to allauth's.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Nexus"
# Its secrets are stored encrypted with the key ring of DERIV_FERNET_KEYS (apps/common/crypto.py).
MFA_ADAPTER = "apps.users.adapter.MFAAdapter"
# Settings > Security lists the trader's signed-in sessions (allauth.usersessions), with where and when each was
# last seen, and signs out every other one.
USERSESSIONS_TRACK_ACTIVITY = True
USERSESSIONS_ADAPTER = "apps.users.adapter.UserSessionsAdapter"

# Who delivers email: Django's console (development), file or SMTP backends, or a provider's API through
# django-anymail. EMAIL_BACKEND, when set, wins (the e2e tests write mail to files).
EMAIL_PROVIDERS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "brevo": "anymail.backends.brevo.EmailBackend",
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
}
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="console" if DEBUG else "smtp")
if EMAIL_PROVIDER not in EMAIL_PROVIDERS:
    raise ImproperlyConfigured(f"EMAIL_PROVIDER={EMAIL_PROVIDER!r}: one of {', '.join(EMAIL_PROVIDERS)}.")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_PROVIDERS[EMAIL_PROVIDER])
# The providers' keys (only the chosen provider's are needed); never logged.
ANYMAIL = {
    name: value
    for name, value in {
        "RESEND_API_KEY": env.str("RESEND_API_KEY", default=""),
        "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
        "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
        "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY", default=""),
        "BREVO_API_KEY": env.str("BREVO_API_KEY", default=""),
    }.items()
    if value
}
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nexus <no-reply@localhost>")
if not DEBUG:
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)

# --- Security -------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The reverse proxies in front of the app (IPs or CIDR networks). Only a request
# that comes from one of them has its X-Forwarded-For read for the client's
# address (audit trail); anyone else could write any address there.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)."
        ) from None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Browser features no page of Nexus uses, off for it and any frame (apps/common/middleware.py).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# --- I18N / static ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
_charts = BASE_DIR / "node_modules" / "lightweight-charts" / "dist"
if _charts.is_dir():
    STATICFILES_DIRS.append(("vendor/lightweight-charts", _charts))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Operations: logs, health, metrics ------------------------------------------
# One JSON object per line in production (request id or task id, user id on
# each), plain text in development: apps/ops/logs.py.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise environ.ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.ops.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "apps.ops.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # ccxt logs each request's headers at DEBUG, the exchange API key among them.
        "ccxt": {"level": "WARNING"},
    },
}

OPS = {
    # /ready/ and `manage.py healthcheck`: a feed reports every few seconds,
    # each qcluster process's heartbeat thread every 30 s (apps/ops/heartbeats.py).
    "FEED_HEARTBEAT_MAX_AGE_S": env.float("FEED_HEARTBEAT_MAX_AGE_S", default=30.0),
    "WORKER_HEARTBEAT_MAX_AGE_S": env.float("WORKER_HEARTBEAT_MAX_AGE_S", default=180.0),
    "READY_MAX_QUEUED_TASKS": env.int("READY_MAX_QUEUED_TASKS", default=1000),
}
# Email notifications (apps/notifications): the address links in emails start with, the outbox's retries,
# the daily summary's local hour and the dead-man's switch (staff emailed when the feed or worker is silent).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
NOTIFICATIONS = {
    "OUTBOX_MAX_ATTEMPTS": env.int("EMAIL_MAX_ATTEMPTS", default=5),
    "OUTBOX_BACKOFF_S": env.float("EMAIL_RETRY_BACKOFF_S", default=60.0),
    "OUTBOX_SENDING_TIMEOUT_S": 600,
    "DIGEST_HOUR": 7,
    "DEADMAN_SILENCE_S": env.float("DEADMAN_SILENCE_S", default=300.0),
}
# /metrics answers a bearer token or an address in the allow-list (IPs or
# networks); with neither set it does not exist (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
for _network in METRICS_ALLOWED_IPS:
    ipaddress.ip_network(_network, strict=False)  # a typo fails at start, not at the first scrape
# The feed's and the worker's own metrics servers (0: off), on this address.
METRICS_PORT_FEED = env.int("METRICS_PORT_FEED", default=0)
METRICS_PORT_WORKER = env.int("METRICS_PORT_WORKER", default=0)
METRICS_PORT_DERIV = env.int("METRICS_PORT_DERIV", default=0)
METRICS_ADDRESS = env.str("METRICS_ADDRESS", default="127.0.0.1")
if METRICS_PORT_WORKER and sys.argv[1:2] == ["qcluster"]:
    # django-q2 forks its workers: their counters are summed through
    # prometheus_client's multiprocess mode, which reads this variable when
    # prometheus_client is first imported (after settings, before the apps).
    # Emptied at each start: files of a previous run would add up again.
    _multiproc_dir = VAR_DIR / "metrics-worker"
    shutil.rmtree(_multiproc_dir, ignore_errors=True)
    _multiproc_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_multiproc_dir)

# --- Nexus ------------------------------------------------------------------
NEXUS = {
    # A market pauses when its newest tick is older than this many seconds,
    # or three tick intervals, whichever is longer.
    "STALE_TICK_SECONDS": env.float("STALE_TICK_SECONDS", default=5.0),
    "TICK_RETENTION_DAYS": env.int("TICK_RETENTION_DAYS", default=7),
    # The daily retention run (apps.retention): notifications and django-q2's
    # failed tasks are deleted, candles shorter than an hour too, audit events
    # are archived (gzip JSON lines in AUDIT_ARCHIVE_DIR) and then deleted.
    "NOTIFICATION_RETENTION_DAYS": env.int("NOTIFICATION_RETENTION_DAYS", default=90),
    "AUDIT_RETENTION_DAYS": env.int("AUDIT_RETENTION_DAYS", default=365),
    "AUDIT_ARCHIVE_DIR": env.str("AUDIT_ARCHIVE_DIR", default=str(VAR_DIR / "archive")),
    "CANDLE_RETENTION_DAYS": env.int("CANDLE_RETENTION_DAYS", default=30),
    "FAILED_TASK_RETENTION_DAYS": env.int("FAILED_TASK_RETENTION_DAYS", default=30),
    "DEMO_BALANCE": env.str("DEMO_BALANCE", default="10000.00"),
    "DEMO_CURRENCY": "USD",
    # Live sockets re-join their groups this often (group expiry, Redis restarts).
    "WS_REJOIN_SECONDS": env.float("WS_REJOIN_SECONDS", default=30.0),
}

# --- Deriv ------------------------------------------------------------------
# Endpoints are settings so that tests and local development point them at the
# fake server (`tests/fakes/deriv`). DERIV_ENABLED turns the Deriv feed and
# "Continue with Deriv" on; DERIV_FERNET_KEYS (comma-separated, newest first)
# encrypt tokens at rest and rotate through MultiFernet.
DERIV = {
    "ENABLED": env_bool("DERIV_ENABLED", default=False),
    "CLIENT_ID": env.str("DERIV_CLIENT_ID", default=""),
    "APP_ID": env.str("DERIV_APP_ID", default=""),
    # The app owner's token (scope application_read) for the app's markup statistics on the staff revenue page.
    "APP_TOKEN": env.str("DERIV_APP_TOKEN", default=""),
    "AUTH_URL": env.str("DERIV_AUTH_URL", default="https://auth.deriv.com"),
    "REST_BASE": env.str("DERIV_REST_BASE", default="https://api.derivws.com"),
    "WS_PUBLIC": env.str("DERIV_WS_PUBLIC", default="wss://api.derivws.com/trading/v1/options/ws/public"),
    "FERNET_KEYS": env.list("DERIV_FERNET_KEYS", default=[]),
    # How long a purchase waits for Deriv's answer (proposal, then buy) before the trader is told.
    "BUY_TIMEOUT_S": env.float("DERIV_BUY_TIMEOUT_S", default=15.0),
    # Partner attribution on Deriv sign-up links (e.g. the partner code dangote_fx).
    "PARTNER_PARAMS": {
        "utm_source": env.str("DERIV_UTM_SOURCE", default="dangote_fx"),
        "utm_medium": env.str("DERIV_UTM_MEDIUM", default="affiliate"),
        "affiliate_token": env.str("DERIV_AFFILIATE_TOKEN", default=""),
    },
}

# Spot exchanges through ccxt. URL points an exchange's API at another server (a staging or
# test server); blank means the exchange's own. Paper trading fills at the last candle's close
# moved against the trader by PAPER_SLIPPAGE_PCT, with the exchange's taker fee.
EXCHANGES = {
    "binance": {
        "URL": env.str("EXCHANGE_BINANCE_URL", default=""),
        "TIMEOUT_S": env.float("EXCHANGE_TIMEOUT_S", default=10.0),
    },
}
# How often a real connection's balances and positions are read back from its exchange while its bots run.
EXCHANGE_RESYNC_S = env.float("EXCHANGE_RESYNC_S", default=600.0)
EXCHANGE_PAPER_BALANCE = env.str("EXCHANGE_PAPER_BALANCE", default="10000")
EXCHANGE_PAPER_SLIPPAGE_PCT = env.str("EXCHANGE_PAPER_SLIPPAGE_PCT", default="0.05")
# Pairs Nexus offers on each exchange (each must be listed by it).
EXCHANGE_PAIRS = env.list(
    "EXCHANGE_PAIRS",
    default=[
        "BTC/USDT",
        "ETH/USDT",
        "SOL/USDT",
        "XRP/USDT",
        "LTC/USDT",
        "ADA/USDT",
        "DOGE/USDT",
        "BNB/USDT",
        "DOT/USDT",
        "LINK/USDT",
    ],
)

# Plans and Stripe subscriptions (apps.billing). Without STRIPE_SECRET_KEY billing is off:
# everyone has DEFAULT_PLAN unless an admin grants another, and the pricing page says plans
# are not on sale here. A payment that fails leaves the plan in force for GRACE_DAYS.
BILLING = {
    "DEFAULT_PLAN": env.str("DEFAULT_PLAN", default="free"),
    "GRACE_DAYS": env.int("BILLING_GRACE_DAYS", default=7),
    "STRIPE_SECRET_KEY": env.str("STRIPE_SECRET_KEY", default=""),
    "STRIPE_WEBHOOK_SECRET": env.str("STRIPE_WEBHOOK_SECRET", default=""),
    # Where the stripe package sends its requests: Stripe itself, or the fake (manage.py run_fake_stripe).
    "STRIPE_API_BASE": env.str("STRIPE_API_BASE", default="https://api.stripe.com"),
}

if BILLING["STRIPE_SECRET_KEY"]:
    # Subscribe and Manage billing are forms whose answer redirects to Stripe's Checkout and portal
    # (or to the fake's pages, served from STRIPE_API_BASE): CSP's form-action must allow them.
    _stripe = urlsplit(BILLING["STRIPE_API_BASE"])
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += [
        "https://checkout.stripe.com",
        "https://billing.stripe.com",
        f"{_stripe.scheme}://{_stripe.netloc}",
    ]

# Sign-ups that arrive without a partner's code are attributed to this partner
# (apps.revenue); empty attributes them to nobody. `seed_demo` creates it.
DEFAULT_PARTNER_CODE = env.str("DEFAULT_PARTNER_CODE", default="dangote_fx").strip().lower()

# "Continue with Deriv": an allauth social provider (apps/deriv/provider) whose
# app is defined here, not in the database. Tokens never go to allauth's
# SocialToken table: the provider keeps them Fernet-encrypted in DerivLink.
# Deriv tells us no email address, so a first sign-in asks for one and it is
# verified like any other.
SOCIALACCOUNT_ADAPTER = "apps.deriv.provider.social.DerivSocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = {
    "deriv": {
        "APPS": [{"client_id": DERIV["CLIENT_ID"], "secret": ""}] if DERIV["ENABLED"] and DERIV["CLIENT_ID"] else [],
        "SCOPE": ["trade", "account_manage"],
        "OAUTH_PKCE_ENABLED": True,
    }
}
if DERIV["ENABLED"]:
    # The sign-in buttons are forms whose answer redirects to Deriv: CSP's
    # form-action must allow Deriv's authorize page, or browsers stop there.
    _auth = urlsplit(DERIV["AUTH_URL"])
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_auth.scheme}://{_auth.netloc}")
