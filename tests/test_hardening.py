"""Hostile and faulty clients: forged addresses, brute force, role changes, absurd input."""

import threading

import pytest
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.models import User
from config.clientip import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def forged(n: int) -> dict:
    """A different X-Forwarded-For per request, as a client trying to pass for many."""
    return {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n % 250}, 198.51.100.{n // 250}"}


@pytest.fixture
def victim():
    user = UserFactory(username="victim")
    user.set_password(PASSWORD)
    user.save()
    return user


def test_forged_forwarded_for_headers_do_not_reset_the_login_lockout(api, victim):
    answers = [
        api.post(
            "/api/auth/token/", {"username": "victim", "password": f"guess-{n}"}, **forged(n)
        ).status_code
        for n in range(60)
    ]
    assert answers[:9] == [401] * 9
    assert set(answers[9:]) == {429}
    right = api.post("/api/auth/token/", {"username": "victim", "password": PASSWORD}, **forged(99))
    assert right.status_code == 429
    assert right.json()["code"] == "locked_out"


def test_failed_logins_count_per_account_whatever_the_case_of_the_name(victim):
    for n in range(10):
        client = APIClient(REMOTE_ADDR=f"192.0.2.{n}")  # ten real addresses, one account
        name = "VICTIM" if n % 2 else "Victim"
        answer = client.post("/api/auth/token/", {"username": name, "password": "x"})
        assert answer.status_code in (401, 429)
    right = APIClient(REMOTE_ADDR="192.0.2.200").post(
        "/api/auth/token/", {"username": "victim", "password": PASSWORD}
    )
    assert right.status_code == 429


def test_the_admin_login_locks_out_after_repeated_failures(client, victim):
    victim.is_staff = True
    victim.save()
    for n in range(12):
        client.post(
            "/admin/login/?next=/admin/", {"username": "victim", "password": f"g{n}"}, **forged(n)
        )
    answer = client.post(
        "/admin/login/?next=/admin/", {"username": "victim", "password": PASSWORD}, **forged(77)
    )
    assert answer.status_code == 429
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_list_throttles_count_the_peer_address_not_a_forged_header(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "lists_anon": "5/min",
            "anon": "5/min",
        },
    }
    api = APIClient()
    codes = [api.get("/api/recommendations/trending/", **forged(n)).status_code for n in range(8)]
    assert 429 not in codes[:5]
    assert codes[5:] == [429, 429, 429]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy of ours: the header is the client's own
        (1, "203.0.113.9", "203.0.113.9"),  # our proxy wrote what it saw
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own entry is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, None, "10.0.0.1"),
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXIES = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", **extra)
    assert client_ip(request) == expected


@pytest.mark.django_db(transaction=True)
def test_case_and_width_variants_of_one_name_register_once_even_concurrently():
    names = [
        "Mira",
        "mira",
        "MIRA",
        "\uff4d\uff49\uff52\uff41",
        "mIrA",
        "\uff2d\uff49\uff52\uff41",
        "miRA",
        "MirA",
    ]  # fullwidth too
    barrier = threading.Barrier(len(names))
    codes: list[int] = []

    def register(name: str) -> None:
        barrier.wait()
        try:
            codes.append(
                APIClient()
                .post("/api/auth/register/", {"username": name, "password": PASSWORD})
                .status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] + [400] * (len(names) - 1)
    assert User.objects.filter(username__iexact="mira").count() == 1
