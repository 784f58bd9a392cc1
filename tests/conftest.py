import shutil
import socket

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tokens import PicksRefreshToken
from recommendations import store
from tests.factories import UserFactory


@pytest.fixture(scope="session", autouse=True)
def _redis_keys_and_files_of_this_run_are_removed():
    """Leave the shared Redis as we found it: only our prefix is ever written, and it goes."""
    yield
    store.delete_prefix()
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    shutil.rmtree(settings.ARTIFACTS_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _each_test_starts_with_an_empty_store():
    yield
    store.delete_prefix()


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Never cache.clear(): django-redis would FLUSHDB the shared Redis.
    cache.delete_pattern("throttle_*")


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {PicksRefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def user_client(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def service_user(db):
    return UserFactory(is_service=True)


@pytest.fixture
def service_client(service_user) -> APIClient:
    return client_for(service_user)


def free_port() -> int:
    """A loopback port where nothing listens now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def closed_redis_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"
