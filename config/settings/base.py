"""Every setting of Picks, read from the environment (django-environ)."""

from datetime import datetime, timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# SECRET_KEY: production.py requires it from the environment; local.py and test.py have
# throwaway defaults of their own.
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "corsheaders",
    "axes",
    "accounts",
    "catalog",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.middleware.ApiCacheHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Views marked stateless (the list reads) are called here; the rest go on below.
    "config.middleware.StatelessViewMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",
]

# How many reverse proxies of ours stand in front (nginx in docker-compose: 1). Client
# addresses come from REMOTE_ADDR unless this says so; a client's own X-Forwarded-For is
# never trusted (config/clientip.py, DRF's NUM_PROXIES, axes).
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)

# Failed logins (API token and admin alike) lock out the account and the address for a while.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "config.lockout.locked_out"
AXES_USERNAME_CALLABLE = "accounts.services.login_key"
AXES_VERBOSE = False

# Browsers on these origins may call the API (comma-separated, e.g. https://shop.example).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

ROOT_URLCONF = env("ROOT_URLCONF", default="config.urls")
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# PostgreSQL when DATABASE_URL is set (psycopg 3), else a SQLite file under var/.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'picks.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Redis: the serving store of every precomputed list, and the default cache (throttling).
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# A request fails fast (0.5 s); a batch job waits out a Redis busy freeing an old version
# (store.job_timeouts()).
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=0.5)
REDIS_JOB_TIMEOUT_SECONDS = env.float("REDIS_JOB_TIMEOUT_SECONDS", default=30.0)
PICKS_REDIS_PREFIX = env("PICKS_REDIS_PREFIX", default="picks")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": PICKS_REDIS_PREFIX,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
        },
    }
}

# Files: a local folder by default, S3 (django-storages + boto3) when a bucket is configured.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = env("MEDIA_URL", default="/media/")
# Django itself serves MEDIA_ROOT only for the local demo and the browser test (production:
# S3 or the proxy serves item images).
PICKS_SERVE_MEDIA = False
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATIC_URL = "/static/"
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default=None)
    AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=False)
    AWS_S3_FILE_OVERWRITE = False
    DEFAULT_FILE_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    DEFAULT_FILE_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
# Model artifacts are pickles: never under a URL. Locally a folder outside MEDIA_ROOT with no
# base URL; on S3 the bucket's artifacts/ prefix, which only item images' policy leaves private.
ARTIFACTS_ROOT = env("ARTIFACTS_ROOT", default=str(VAR_DIR / "private"))
STORAGES = {
    "default": {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND},
    "artifacts": (
        {"BACKEND": DEFAULT_FILE_STORAGE_BACKEND}
        if AWS_STORAGE_BUCKET_NAME
        else {
            "BACKEND": DEFAULT_FILE_STORAGE_BACKEND,
            "OPTIONS": {"location": ARTIFACTS_ROOT, "base_url": "/not-served/"},
        }
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ARTIFACT_PREFIX = env("ARTIFACT_PREFIX", default="artifacts")
MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", default=5 * 1024 * 1024)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=25_000_000)

# Batch jobs. Weights turn events into the aggregated score (dislikes and refunds subtract).
PICKS_EVENT_WEIGHTS = {
    "purchase": env.float("WEIGHT_PURCHASE", default=4.0),
    "cart": env.float("WEIGHT_CART", default=2.0),
    "like": env.float("WEIGHT_LIKE", default=1.5),
    "view": env.float("WEIGHT_VIEW", default=0.5),
    "dislike": env.float("WEIGHT_DISLIKE", default=-2.0),
}
PICKS_LIST_LENGTH = env.int("LIST_LENGTH", default=100)
# Above this many active items, similar items come from approximate neighbours (faiss).
PICKS_SIMILAR_EXACT_MAX_ITEMS = env.int("SIMILAR_EXACT_MAX_ITEMS", default=20_000)
# Above this many items, top buys (plain ALS) and decks find each user's best items by
# approximate search (faiss inverted lists) instead of scoring every item.
PICKS_EXACT_SCORING_MAX_ITEMS = env.int("EXACT_SCORING_MAX_ITEMS", default=20_000)
# Their search probes the fewest inverted lists that reach this recall against exact scoring
# on a sample of 1,000 users, chosen by each run.
PICKS_APPROXIMATE_RECALL = env.float("APPROXIMATE_RECALL", default=0.95)
# The engine of train_als_model, train_market_basket, evaluate, generate_top_buys and
# generate_bought_together: "local" (implicit, mlxtend on this machine) or "spark" (MLlib on
# SPARK_MASTER: local[*], or a cluster's spark://...; the lists are written to Redis by the
# executors, at SPARK_REDIS_URL, in SPARK_LIST_PARTITIONS parts).
PICKS_ENGINE = env.str("PICKS_ENGINE", default="local")
SPARK_MASTER = env.str("SPARK_MASTER", default="local[*]")
SPARK_DRIVER_MEMORY = env.str("SPARK_DRIVER_MEMORY", default="2g")
SPARK_REDIS_URL = env.str("SPARK_REDIS_URL", default="")  # empty: the cache's own Redis
SPARK_LIST_PARTITIONS = env.int("SPARK_LIST_PARTITIONS", default=8)
# Client timestamps (events, orders, imports) further ahead of the clock than this, or before
# the earliest date, are refused: one absurd date must not skew recency for everyone.
PICKS_MAX_FUTURE_SECONDS = env.int("MAX_FUTURE_SECONDS", default=900)
PICKS_EARLIEST_TIMESTAMP = datetime.fromisoformat(
    env.str("EARLIEST_TIMESTAMP", default="1990-01-01T00:00:00+00:00")
)
# The jobs' clock: empty means now; a date replays the shop as of then (benchmarks on old data).
PICKS_AS_OF = datetime.fromisoformat(env.str("AS_OF")) if env.str("AS_OF", default="") else None
PICKS_PIPELINE_LOCK_SECONDS = env.int("PIPELINE_LOCK_SECONDS", default=600)
# How often cron runs the pipeline (deploy/crontab: hourly); the staff dashboard marks a list
# family stale once its live version is older than this many periods.
PICKS_PIPELINE_PERIOD_SECONDS = env.int("PIPELINE_PERIOD_SECONDS", default=3600)
PICKS_STALE_AFTER_PERIODS = env.int("STALE_AFTER_PERIODS", default=2)
# How long an API process serves the running experiments it last read before reading them
# again: a start or a stop reaches every server within this time.
PICKS_EXPERIMENT_CACHE_SECONDS = env.float("EXPERIMENT_CACHE_SECONDS", default=5.0)
# One publisher per list family: its lock expires this long after its holder stops refreshing.
PICKS_PUBLISH_LOCK_SECONDS = env.int("PUBLISH_LOCK_SECONDS", default=60)
# Model artifacts kept per kind: the newest runs' plus the two last published (rollback).
PICKS_KEEP_ARTIFACTS = env.int("KEEP_ARTIFACTS", default=5)
# The refresher (manage.py refresh_users): how long it waits for a notice before it looks at
# PostgreSQL's queue anyway (the bound on how late a lost notice is caught up), how many users
# one pass claims, and the L2 weight that keeps a user's MF vector small on few swipes.
PICKS_REFRESH_POLL_SECONDS = env.float("REFRESH_POLL_SECONDS", default=5.0)
PICKS_REFRESH_BATCH = env.int("REFRESH_BATCH", default=25)
PICKS_FOLDIN_L2 = env.float("FOLDIN_L2", default=1.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.PicksAutoSchema",
    # JSON bodies only; the item endpoints also take multipart (images) and declare it.
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "NUM_PROXIES": TRUSTED_PROXIES,
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.AnonRateThrottle",
        "config.throttling.UserRateThrottle",
        "config.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="600/min"),
        "user": env("THROTTLE_USER", default="3000/min"),
        "auth": env("THROTTLE_AUTH", default="30/min"),
        "events": env("THROTTLE_EVENTS", default="1200/min"),
        "lists_anon": env("THROTTLE_LISTS_ANON", default="600/min"),
        "lists_user": env("THROTTLE_LISTS_USER", default="1200/min"),
    },
    "EXCEPTION_HANDLER": "config.exceptions.json_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.PicksAccessToken",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Picks API",
    "DESCRIPTION": "Recommendations for shops and swipe apps, served from Redis.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
