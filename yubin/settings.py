"""Django settings for Yubin, every value read from the environment through yubin.config.

The embedded defaults need no external server: SQLite in WAL mode, a file-system blob store,
kombu's filesystem broker and a file-based cache. Production sets DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (Redis or RabbitMQ) and YUBIN_CACHE_URL (Redis).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import dj_database_url

from yubin.config import data_dir, env_bool, env_int, env_size, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY_FILE = DATA_DIR / "secret_key"


def _secret_key() -> str:
    configured = env_str("YUBIN_SECRET_KEY", "")
    if configured:
        return configured
    if not SECRET_KEY_FILE.exists():
        import secrets

        SECRET_KEY_FILE.write_text(secrets.token_urlsafe(50))
        SECRET_KEY_FILE.chmod(0o600)
    return SECRET_KEY_FILE.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("YUBIN_DEBUG", False)

YUBIN_HOSTNAME = env_str("YUBIN_HOSTNAME", socket.getfqdn() or "localhost")
YUBIN_BIND = env_str("YUBIN_BIND", "127.0.0.1")
ALLOWED_HOSTS = [h.strip() for h in env_str("YUBIN_ALLOWED_HOSTS", "*").split(",") if h.strip()]

# Listening ports (make run's unprivileged defaults; production sets 25, 587, 465, 143, ...).
YUBIN_PORT_SMTP = env_int("YUBIN_PORT_SMTP", 2525)
YUBIN_PORT_SUBMISSION = env_int("YUBIN_PORT_SUBMISSION", 2587)
YUBIN_PORT_SUBMISSIONS = env_int("YUBIN_PORT_SUBMISSIONS", 2465)
YUBIN_PORT_IMAP = env_int("YUBIN_PORT_IMAP", 2143)
YUBIN_PORT_IMAPS = env_int("YUBIN_PORT_IMAPS", 2993)
YUBIN_PORT_POP3 = env_int("YUBIN_PORT_POP3", 2110)
YUBIN_PORT_POP3S = env_int("YUBIN_PORT_POP3S", 2995)
YUBIN_PORT_SIEVE = env_int("YUBIN_PORT_SIEVE", 4190)
YUBIN_PORT_HTTP = env_int("YUBIN_PORT_HTTP", 8000)

# TLS: a self-signed certificate for YUBIN_HOSTNAME is made in the data dir on first start.
YUBIN_TLS_CERT = env_str("YUBIN_TLS_CERT", str(DATA_DIR / "tls" / "cert.pem"))
YUBIN_TLS_KEY = env_str("YUBIN_TLS_KEY", str(DATA_DIR / "tls" / "key.pem"))
# Plaintext passwords before TLS are refused except on loopback when this is on.
YUBIN_ALLOW_PLAINTEXT_LOOPBACK = env_bool("YUBIN_ALLOW_PLAINTEXT_LOOPBACK", False)
YUBIN_DEMO_DOMAIN = env_str("YUBIN_DEMO_DOMAIN", "example.test")

YUBIN_BLOB_DIR = Path(env_str("YUBIN_BLOB_DIR", str(DATA_DIR / "blobs")))
# Messages up to this size keep their bytes in the database, committed with the delivery; larger
# ones are files in YUBIN_BLOB_DIR. 0: every message is a file.
YUBIN_BLOB_INLINE_MAX = env_size("YUBIN_BLOB_INLINE_MAX", 128 * 1024)
# Per process: the bytes of database-kept blobs read lately, kept for the next read. 0: none.
YUBIN_BLOB_CACHE = env_size("YUBIN_BLOB_CACHE", 16 * 1024 * 1024)
YUBIN_DKIM_DIR = Path(env_str("YUBIN_DKIM_DIR", str(DATA_DIR / "dkim")))
YUBIN_MESSAGE_SIZE_LIMIT = env_size("YUBIN_MESSAGE_SIZE_LIMIT", 50 * 1024 * 1024)
YUBIN_DEFAULT_QUOTA = env_size("YUBIN_DEFAULT_QUOTA", 1024**3)
# Over quota at delivery: temporary 452 4.2.2 (the default) or permanent 552 5.2.2.
YUBIN_QUOTA_PERMANENT = env_bool("YUBIN_QUOTA_PERMANENT", False)

YUBIN_DNS_RESOLVERS = env_str("YUBIN_DNS_RESOLVERS", "")
YUBIN_RELAY_PORT = env_int("YUBIN_RELAY_PORT", 25)
YUBIN_RELAY_SOURCE = env_str("YUBIN_RELAY_SOURCE", "")
YUBIN_SMARTHOST = env_str("YUBIN_SMARTHOST", "")
YUBIN_SMARTHOST_USER = env_str("YUBIN_SMARTHOST_USER", "")
YUBIN_SMARTHOST_PASSWORD = env_str("YUBIN_SMARTHOST_PASSWORD", "")

# LDAP accounts (django-auth-ldap), enabled when YUBIN_LDAP_URI is set.
YUBIN_LDAP_URI = env_str("YUBIN_LDAP_URI", "")
YUBIN_LDAP_BIND_DN = env_str("YUBIN_LDAP_BIND_DN", "")
YUBIN_LDAP_BIND_PASSWORD = env_str("YUBIN_LDAP_BIND_PASSWORD", "")
YUBIN_LDAP_USER_BASE = env_str("YUBIN_LDAP_USER_BASE", "")
YUBIN_LDAP_USER_FILTER = env_str("YUBIN_LDAP_USER_FILTER", "(mail=%(user)s)")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "store",
    "agents",
    "webmail",
    "admin_panel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "yubin.urls"
ASGI_APPLICATION = "yubin.asgi.application"
WSGI_APPLICATION = "yubin.wsgi.application"

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
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = env_str("DATABASE_URL", "")
    if url:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
        if config["ENGINE"].endswith("sqlite3"):
            config["OPTIONS"] = _sqlite_options()
        elif config["ENGINE"].endswith("postgresql"):
            # Server-side prepared statements after this many runs of a statement (psycopg's
            # prepare_threshold), which Django turns off for connection poolers that lack them.
            # A delivery's statements are the same text every time: planning its inserts afresh
            # each time cost a quarter of the delivery. 0 = off (PgBouncer before 1.21).
            threshold = env_int("YUBIN_DB_PREPARE_THRESHOLD", 5)
            config.setdefault("OPTIONS", {})["prepare_threshold"] = threshold if threshold > 0 else None
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "yubin.sqlite3",
        "OPTIONS": _sqlite_options(),
        "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
    }


def _sqlite_options() -> dict:
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait on the
    # busy timeout instead of failing with "database is locked" on a lock upgrade.
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _cache() -> dict:
    url = env_str("YUBIN_CACHE_URL", "")
    if url.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    # The file-based cache is shared by every process on the host: the auth throttle needs that.
    # Django culls a third of the entries past MAX_ENTRIES (300 by default), which would forget
    # throttle counts on a busy site: keep far more.
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
        "OPTIONS": {"MAX_ENTRIES": 200_000},
    }


CACHES = {"default": _cache()}

AUTH_USER_MODEL = "store.Account"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTHENTICATION_BACKENDS = ["store.auth.AccountBackend"]
if YUBIN_LDAP_URI:
    AUTHENTICATION_BACKENDS.insert(0, "store.auth.LdapAccountBackend")
LOGIN_URL = "/login/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("YUBIN_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("YUBIN_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# Celery: the embedded default is kombu's filesystem transport, which needs no server.
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "yubin.celery:FilesystemTransport"  # kombu's, with whole-file writes
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # exchange bindings; kombu's default is "control" in the working directory
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # kombu polls the folder once a second by default: a task sent to an idle worker waited up
        # to that long. A listing every 0.1 s costs an idle worker next to nothing.
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Celery's Django fix-up closes the database connections after every task unless this is set;
# yubin/celery.py keeps them by Django's own rules instead (replaced when broken), and the
# fix-up still starts afresh after about this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("YUBIN_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Finished queue messages (all recipients sent or bounced) are dropped after this many days.
YUBIN_QUEUE_KEEP_DAYS = env_int("YUBIN_QUEUE_KEEP_DAYS", 7)

# Periodic jobs; other parts add their entries with CELERY_BEAT_SCHEDULE.update(...).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "store-housekeeping": {"task": "store.housekeeping", "schedule": 600.0},
}

# --- smtp ---
# Per-session and per-address limits of the SMTP listeners (Postfix defaults in brackets).
YUBIN_SMTP_MAX_CONNECTIONS = env_int("YUBIN_SMTP_MAX_CONNECTIONS", 1000)  # [default_process_limit 100]
YUBIN_SMTP_MAX_CONNECTIONS_PER_IP = env_int("YUBIN_SMTP_MAX_CONNECTIONS_PER_IP", 50)  # [50]
YUBIN_SMTP_MAX_RECIPIENTS = env_int("YUBIN_SMTP_MAX_RECIPIENTS", 1000)  # [smtpd_recipient_limit 1000]
YUBIN_SMTP_MAX_ERRORS = env_int("YUBIN_SMTP_MAX_ERRORS", 20)  # [smtpd_hard_error_limit 20]
YUBIN_SMTP_MAX_COMMANDS = env_int("YUBIN_SMTP_MAX_COMMANDS", 10000)  # per session
YUBIN_SMTP_TIMEOUT = env_int("YUBIN_SMTP_TIMEOUT", 300)  # seconds [smtpd_timeout 300]
# MX: SPF, DKIM and DMARC verification with an Authentication-Results header; DMARC p=reject.
YUBIN_SMTP_VERIFY_SENDER = env_bool("YUBIN_SMTP_VERIFY_SENDER", True)
YUBIN_SMTP_DMARC_REJECT = env_bool("YUBIN_SMTP_DMARC_REJECT", True)
# POP-before-SMTP: minutes after a POP3/IMAP login that the address may submit without AUTH; 0 = off.
YUBIN_POP_BEFORE_SMTP_MINUTES = env_int("YUBIN_POP_BEFORE_SMTP_MINUTES", 0)
# Group commit: at most this many messages are delivered in one database transaction.
YUBIN_SMTP_GROUP_COMMIT_MAX = env_int("YUBIN_SMTP_GROUP_COMMIT_MAX", 64)
# Seconds a found recipient (account or alias expansion) is remembered by the SMTP process; 0 = off.
# Unknown recipients are never remembered; directory changes made in this process clear it at once.
YUBIN_SMTP_RECIPIENT_CACHE_SECONDS = env_int("YUBIN_SMTP_RECIPIENT_CACHE_SECONDS", 5)
# Agents processes sharing the listening ports (SO_REUSEPORT); 0 = one per CPU.
YUBIN_AGENTS_PROCESSES = env_int("YUBIN_AGENTS_PROCESSES", 0)
# With one agents process per CPU: each pinned to its CPU, taking the connections it receives.
YUBIN_AGENTS_CPU_AFFINITY = env_bool("YUBIN_AGENTS_CPU_AFFINITY", True)
# The agents' event loop: "uvloop" (libuv, faster per command) or "asyncio" (the standard library's).
YUBIN_EVENT_LOOP = env_str("YUBIN_EVENT_LOOP", "uvloop").lower()
if YUBIN_EVENT_LOOP not in ("uvloop", "asyncio"):
    raise SystemExit(f"configuration error: YUBIN_EVENT_LOOP={YUBIN_EVENT_LOOP!r} is not uvloop or asyncio")
# LDAP (django-auth-ldap) from the YUBIN_LDAP_* variables; store.auth.LdapAccountBackend uses these.
YUBIN_LDAP_ACCOUNT_DOMAIN_CREATE = env_bool("YUBIN_LDAP_ACCOUNT_DOMAIN_CREATE", False)
if YUBIN_LDAP_URI:
    import ldap
    from django_auth_ldap.config import LDAPSearch

    AUTH_LDAP_SERVER_URI = YUBIN_LDAP_URI
    AUTH_LDAP_BIND_DN = YUBIN_LDAP_BIND_DN
    AUTH_LDAP_BIND_PASSWORD = YUBIN_LDAP_BIND_PASSWORD
    AUTH_LDAP_USER_SEARCH = LDAPSearch(YUBIN_LDAP_USER_BASE, ldap.SCOPE_SUBTREE, YUBIN_LDAP_USER_FILTER)
    AUTH_LDAP_USER_ATTR_MAP = {"display_name": "cn"}

# --- imap ---
# Connection limits of the IMAP server (Dovecot's mail_max_userip_connections is 10 per user and address).
YUBIN_IMAP_MAX_CONNECTIONS_PER_IP = env_int("YUBIN_IMAP_MAX_CONNECTIONS_PER_IP", 200)
YUBIN_IMAP_MAX_CONNECTIONS_PER_ACCOUNT = env_int("YUBIN_IMAP_MAX_CONNECTIONS_PER_ACCOUNT", 50)
# "optimized": IMAP flag changes, expunges and \Recent claims commit without waiting for the disk
# flush (Dovecot's mail_fsync=optimized); "always": every IMAP write waits. Mail always waits.
YUBIN_IMAP_FSYNC = env_str("YUBIN_IMAP_FSYNC", "optimized")
if YUBIN_IMAP_FSYNC not in ("optimized", "always"):
    raise SystemExit(f"configuration error: YUBIN_IMAP_FSYNC={YUBIN_IMAP_FSYNC!r} is not 'optimized' or 'always'")

# --- mta ---
# Retries like Postfix: minimal_backoff_time 300s, doubling, maximal_backoff_time 3600s,
# maximal_queue_lifetime 5d, delay_warning_time 4h (0 turns the warning off). All in seconds.
YUBIN_RELAY_RETRY_FIRST = env_int("YUBIN_RELAY_RETRY_FIRST", 300)
YUBIN_RELAY_RETRY_MAX = env_int("YUBIN_RELAY_RETRY_MAX", 3600)
YUBIN_RELAY_LIFETIME = env_int("YUBIN_RELAY_LIFETIME", 5 * 86400)
YUBIN_RELAY_DELAY_WARNING = env_int("YUBIN_RELAY_DELAY_WARNING", 4 * 3600)
# A claimed recipient stays invisible to other workers this long (longer than one attempt can take);
# a dead worker's rows come back after it.
YUBIN_RELAY_LEASE = env_int("YUBIN_RELAY_LEASE", 1800)
YUBIN_RELAY_SWEEP_INTERVAL = env_int("YUBIN_RELAY_SWEEP_INTERVAL", 60)
YUBIN_RELAY_CONNECT_TIMEOUT = env_int("YUBIN_RELAY_CONNECT_TIMEOUT", 30)
YUBIN_RELAY_COMMAND_TIMEOUT = env_int("YUBIN_RELAY_COMMAND_TIMEOUT", 300)
# An idle connection is kept this long for the next message to the same host (Postfix: 2s).
YUBIN_RELAY_REUSE_SECONDS = env_int("YUBIN_RELAY_REUSE_SECONDS", 5)
# Parallel deliveries per destination domain across all workers (Postfix default: 20).
YUBIN_RELAY_DESTINATION_CONCURRENCY = env_int("YUBIN_RELAY_DESTINATION_CONCURRENCY", 20)
# Due recipients of other messages a worker takes along in one attempt (shared connections, one commit).
YUBIN_RELAY_BATCH = env_int("YUBIN_RELAY_BATCH", 20)
# Extra CA bundle trusted when a certificate must verify (MTA-STS, smarthost); empty = system CAs.
YUBIN_RELAY_CA_FILE = env_str("YUBIN_RELAY_CA_FILE", "")
# Where an MTA-STS policy is fetched from (RFC 8461 §3.2); {domain} is the recipient domain.
YUBIN_MTA_STS_URL = env_str("YUBIN_MTA_STS_URL", "https://mta-sts.{domain}/.well-known/mta-sts.txt")
# Smarthost TLS: "starttls" (required, verified), "tls" (implicit TLS, port 465) or "none".
YUBIN_SMARTHOST_TLS = env_str("YUBIN_SMARTHOST_TLS", "starttls")
YUBIN_DNS_TIMEOUT = env_int("YUBIN_DNS_TIMEOUT", 10)
YUBIN_DKIM_ALGORITHM = env_str("YUBIN_DKIM_ALGORITHM", "rsa")  # default of `yubin dkim generate`: rsa | ed25519
CELERY_BEAT_SCHEDULE.update(
    {"relay-sweep": {"task": "agents.mta.tasks.sweep", "schedule": float(YUBIN_RELAY_SWEEP_INTERVAL)}}
)

# --- webmail ---
# The IMAP/submission/ManageSieve host the webmail connects to (default: YUBIN_BIND).
YUBIN_WEBMAIL_IMAP_HOST = env_str("YUBIN_WEBMAIL_IMAP_HOST", "")
# Verify the agents' certificate against YUBIN_TLS_CERT (the self-signed default) on STARTTLS.
YUBIN_WEBMAIL_TLS_VERIFY = env_bool("YUBIN_WEBMAIL_TLS_VERIFY", True)
# Largest total of attachments on one message the composer accepts.
YUBIN_WEBMAIL_ATTACHMENT_LIMIT = env_size("YUBIN_WEBMAIL_ATTACHMENT_LIMIT", 25 * 1024 * 1024)
YUBIN_WEBMAIL_PAGE_SIZE = env_int("YUBIN_WEBMAIL_PAGE_SIZE", 50)
YUBIN_WEBMAIL_UPLOAD_DIR = Path(env_str("YUBIN_WEBMAIL_UPLOAD_DIR", str(DATA_DIR / "webmail-uploads")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- admin ---
# MTA-STS policy (RFC 8461) served for every local domain at mta-sts.<domain>: testing | enforce | none.
YUBIN_MTA_STS_MODE = env_str("YUBIN_MTA_STS_MODE", "testing")
YUBIN_MTA_STS_MAX_AGE = env_int("YUBIN_MTA_STS_MAX_AGE", 86400)
# Accounts per page in the admin panel's lists.
YUBIN_ADMIN_PAGE_SIZE = env_int("YUBIN_ADMIN_PAGE_SIZE", 50)
