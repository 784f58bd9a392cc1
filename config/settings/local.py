"""Developer machine and the `make run` demo."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="insecure-key-for-the-local-demo-only-never-for-production")
PICKS_SERVE_MEDIA = env.bool("SERVE_MEDIA", default=DEBUG)  # the demo shows its pictures
