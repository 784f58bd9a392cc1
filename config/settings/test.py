"""pytest: real PostgreSQL and Redis, with a Redis database and key prefix of this run's own."""

import os
import uuid

from .base import *  # noqa: F403
from .base import BASE_DIR, CACHES, REST_FRAMEWORK, STORAGES, env

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/picks"),
}
PICKS_REDIS_PREFIX = f"picks-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
CACHES["default"]["KEY_PREFIX"] = PICKS_REDIS_PREFIX
# Database 9, not the demo's 0: the suite's clean-ups SCAN only the keys there, however many
# lists a demo or a benchmark left in database 0 (with 200k of them the suite took 9.7 min
# instead of 1.5).
CACHES["default"]["LOCATION"] = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/9")
SECRET_KEY = "insecure-key-for-the-test-suite-only-never-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "anon": "100000/min",
    "user": "100000/min",
    "auth": "100000/min",
    "events": "100000/min",
    "lists_anon": "100000/min",
    "lists_user": "100000/min",
}
MEDIA_ROOT = str(BASE_DIR / "var" / f"test-media-{os.getpid()}")
PICKS_SERVE_MEDIA = True  # the browser test's live server shows the demo's pictures
ARTIFACTS_ROOT = str(BASE_DIR / "var" / f"test-private-{os.getpid()}")
STORAGES = {
    **STORAGES,
    "artifacts": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": ARTIFACTS_ROOT, "base_url": "/not-served/"},
    },
}

# Experiments start and stop at once in tests (production re-reads them every few seconds).
PICKS_EXPERIMENT_CACHE_SECONDS = 0
