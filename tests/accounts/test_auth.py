from datetime import timedelta

import pytest

from accounts.models import User
from accounts.tokens import PicksRefreshToken

pytestmark = pytest.mark.django_db


def test_a_new_user_registers_logs_in_refreshes_and_sees_themselves(api):
    registered = api.post(
        "/api/auth/register/",
        {"username": "ada", "password": "correct-horse-battery", "email": "ada@example.com"},
    )
    assert registered.status_code == 201, registered.json()
    assert registered.json()["username"] == "ada"

    login = api.post("/api/auth/token/", {"username": "ada", "password": "correct-horse-battery"})
    assert login.status_code == 200
    tokens = login.json()

    refreshed = api.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    access = refreshed.json()["access"]

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    me = api.get("/api/auth/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "ada"
    assert me.json()["is_service"] is False


def test_registering_a_taken_username_is_a_400_naming_the_field(api, user):
    response = api.post(
        "/api/auth/register/", {"username": user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 400
    assert "username" in response.json()["errors"]


def test_a_weak_password_is_refused_and_no_account_is_made(api):
    response = api.post("/api/auth/register/", {"username": "bob", "password": "123"})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not User.objects.filter(username="bob").exists()


def test_wrong_password_gets_401_json(api, user):
    response = api.post("/api/auth/token/", {"username": user.username, "password": "nope"})
    assert response.status_code == 401
    assert response.json()["code"]


def test_me_without_a_token_is_401(api):
    assert api.get("/api/auth/me/").status_code == 401


def test_a_malformed_token_is_401_not_500(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    response = api.get("/api/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def _bearer(api, token) -> None:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize(
    "path", ["/api/auth/me/", "/api/recommendations/top-buys/", "/api/recommendations/deck/"]
)
def test_an_expired_token_is_401_json(api, user, path):
    token = PicksRefreshToken.for_user(user).access_token
    token.set_exp(lifetime=-timedelta(minutes=1))
    _bearer(api, token)
    response = api.get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not.a.jwt",
        "Bearer " + "A" * 5000,
        "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.",  # alg "none", unsigned
        "Bearer",
        "Token abc",
    ],
)
@pytest.mark.parametrize("path", ["/api/auth/me/", "/api/recommendations/deck/"])
def test_a_malformed_or_unsigned_token_is_401_never_500(api, header, path):
    response = api.get(path, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_token_signed_with_another_key_is_401(api, user, settings):
    token = str(PicksRefreshToken.for_user(user).access_token)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    _bearer(api, forged)
    assert api.get("/api/auth/me/").status_code == 401
    assert api.get("/api/recommendations/deck/").status_code == 401


def test_the_token_of_a_deleted_user_is_401_everywhere(
    api, user, django_capture_on_commit_callbacks
):
    token = PicksRefreshToken.for_user(user)
    _bearer(api, token.access_token)
    assert api.get("/api/recommendations/deck/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert api.get("/api/auth/me/").status_code == 401
    event = {"item": 1, "kind": "like"}
    assert api.post("/api/interactions/", event, format="json").status_code == 401
    # The Redis-only endpoints never read the user table: the account is closed in Redis.
    for path in (
        "top-buys/",
        "deck/",
        "trending/",
        "predict/?item_id=1",
        "more-like-these/?items=1",
    ):
        response = api.get(f"/api/recommendations/{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "account_closed"
    refreshed = api.post("/api/auth/token/refresh/", {"refresh": str(token)})
    assert refreshed.status_code == 401


def test_a_deactivated_account_is_refused_by_the_list_endpoints(
    api, user, django_capture_on_commit_callbacks
):
    _bearer(api, PicksRefreshToken.for_user(user).access_token)
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
    assert api.get("/api/recommendations/top-buys/").status_code == 401
    assert api.get("/api/recommendations/trending/").status_code == 401
