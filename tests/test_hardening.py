"""Hostile and faulty clients: forged addresses, brute force, role changes, absurd input."""

import gzip
import io
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import PicksAccessToken, PicksRefreshToken
from catalog.models import Item
from config.clientip import client_ip
from recommendations.models import Interaction, ModelRun, Order
from recommendations.services.training.model_runs import recorded_run
from tests.conftest import client_for
from tests.factories import ItemFactory, UserFactory

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


# ---- input that used to give 500 -------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    "path",
    ["/api/auth/register/", "/api/auth/token/", "/api/auth/token/refresh/", "/api/items/"],
)
def test_json_nested_a_thousand_deep_is_a_400(api, service_client, path):
    client = service_client if path == "/api/items/" else api
    answer = client.post(path, data=DEEP, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["code"]


def test_deep_json_of_events_is_a_400(user_client):
    answer = user_client.post("/api/interactions/", data=DEEP, content_type="application/json")
    assert answer.status_code == 400


def test_an_overlong_email_is_a_400_naming_the_field(api):
    answer = api.post(
        "/api/auth/register/",
        {"username": "longmail", "password": PASSWORD, "email": "a" * 300 + "@example.com"},
    )
    assert answer.status_code == 400
    assert "email" in answer.json()["errors"]


@pytest.mark.parametrize(
    "attributes",
    ['{"a\\u0000b": 1}', '{"a": "x\\u0000"}', '{"\\ud800": 1}', '{"a": ["\\udfff"]}',
     '{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}'],
)  # fmt: skip
def test_item_attributes_with_nul_surrogates_or_deep_nesting_are_a_400(service_client, attributes):
    body = f'{{"sku": "AT-1", "title": "T", "price": "1.00", "attributes": {attributes}}}'
    answer = service_client.post("/api/items/", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "attributes" in answer.json()["errors"]


@pytest.mark.parametrize("claim", ["abc", None, -3, 0, True, "12abc", 1.5])
def test_a_validly_signed_token_naming_no_user_is_a_401(claim):
    token = PicksAccessToken()
    token["user_id"] = claim
    refresh = PicksRefreshToken()
    refresh["user_id"] = claim
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for path in ("/api/auth/me/", "/api/recommendations/top-buys/", "/api/recommendations/deck/"):
        answer = client.get(path)
        assert answer.status_code == 401, (path, answer.content)
    refreshed = APIClient().post("/api/auth/token/refresh/", {"refresh": str(refresh)})
    assert refreshed.status_code == 401


def test_a_body_over_the_limit_is_a_400_json(user_client):
    huge = '{"item": 1, "kind": "like", "pad": "' + "x" * (10 * 2**20) + '"}'
    answer = user_client.post("/api/interactions/", data=huge, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"


def test_more_than_a_thousand_query_fields_is_a_400_json(api):
    query = "&".join(f"f{n}=1" for n in range(1500))
    answer = api.get(f"/api/recommendations/trending/?{query}")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "path", ["/api/health/", "/api/recommendations/trending/", "/api/recommendations/deck/"]
)
def test_a_host_not_allowed_is_a_400_json(api, settings, path):
    """Also on the list reads, which skip the middleware that usually checks the Host."""
    settings.ALLOWED_HOSTS = ["picks.example"]
    answer = api.get(path, HTTP_HOST="evil.example")
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"


def test_list_reads_skip_the_session_layers_but_not_one_security_header(api, settings):
    """The list reads are called past the session, auth, message and CSRF middleware
    (config.middleware.StatelessViewMiddleware): their answers carry every header the other
    API answers carry, for a guest as for a CORS caller."""
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    origin = {"HTTP_ORIGIN": "https://shop.example"}
    other = api.get("/api/health/", **origin)
    guarded = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
               "Cross-Origin-Opener-Policy", "Access-Control-Allow-Origin")  # fmt: skip
    for path in ("/api/recommendations/trending/", "/api/recommendations/top-buys/"):
        listing = api.get(path, **origin)
        assert listing.status_code == 200
        assert {h: listing.get(h) for h in guarded} == {h: other.get(h) for h in guarded}
        assert None not in {h: listing.get(h) for h in guarded}.values()
        assert "Authorization" in listing["Vary"]
        assert int(listing["Content-Length"]) == len(listing.content)
    error = api.get("/api/recommendations/deck/", **origin)  # a DRF error answer, same way
    assert error.status_code == 401
    assert {h: error.get(h) for h in guarded} == {h: other.get(h) for h in guarded}


def test_an_admin_session_cookie_signs_no_one_in_to_a_list_read(client, settings):
    """Stateless means the bearer token or nothing: a staff member logged in to the admin
    (session cookie, CSRF cookie) is a guest to the list reads, never someone else's reader."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200  # the session works where it should
    assert client.get("/api/recommendations/deck/").status_code == 401
    answer = client.get(f"/api/recommendations/top-buys/?user_id={staff.pk}")
    assert answer.status_code == 401
    assert "Set-Cookie" not in answer


# ---- roles come from the database at refresh ------------------------------------------------


def test_a_demoted_service_account_loses_the_role_at_its_next_refresh(api):
    service = UserFactory(is_service=True)
    shopper = UserFactory()
    refresh = PicksRefreshToken.for_user(service)
    service.is_service = False
    service.save()
    access = api.post("/api/auth/token/refresh/", {"refresh": str(refresh)}).json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    answer = api.get(f"/api/recommendations/top-buys/?user_id={shopper.pk}")
    assert answer.status_code == 403
    assert api.get("/api/auth/me/").json()["is_service"] is False


def test_a_deactivated_account_cannot_refresh_even_with_redis_down(api, settings, closed_redis_url):
    user = UserFactory()
    refresh = PicksRefreshToken.for_user(user)
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": closed_redis_url},
    }
    user.is_active = False
    user.save()  # the Redis mark fails: Redis is down
    answer = api.post("/api/auth/token/refresh/", {"refresh": str(refresh)})
    assert answer.status_code == 401


# ---- imports keep good rows, refuse out-of-range values, bound memory, take a BOM --------

ORDER_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _import(command: str, path) -> str:
    out = StringIO()
    call_command(command, str(path), stdout=out)
    return out.getvalue()


def test_an_out_of_range_quantity_is_reported_and_its_chunk_kept(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        ORDER_HEADER
        + "1,A,ok,2,2024-05-01 10:00:00,1.00,17850,UK\n"
        + "2,A,huge,99999999999,2024-05-01 10:00:00,1.00,17850,UK\n"
        + "3,B,ok,-1,2024-05-01 10:00:00,1.00,17850,UK\n"
    )
    report = _import("import_orders", path)
    assert "line 3:" in report
    assert "Quantity" in report
    assert sorted(Order.objects.values_list("invoice_no", flat=True)) == ["1", "3"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "-Infinity"])
def test_interaction_values_that_are_not_finite_or_in_range_are_refused(tmp_path, value):
    path = tmp_path / "events.csv"
    path.write_text(
        "user,item,event,timestamp,value\n"
        "u1,A,view,2024-05-01T10:00:00Z,4\n"
        f"u1,B,view,2024-05-01T10:00:00Z,{value}\n"
    )
    report = _import("import_interactions", path)
    assert "line 3:" in report
    assert list(Interaction.objects.values_list("value", flat=True)) == [4.0]


def test_a_huge_line_in_a_gzip_file_is_reported_with_memory_bounded(tmp_path):
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write(ORDER_HEADER)
        out.write("1,A,ok,2,2024-05-01 10:00:00,1.00,17850,UK\n")
        out.write("2,A," + "x" * 30_000_000 + ",2,2024-05-01 10:00:00,1.00,17850,UK\n")
        out.write("3,B,ok,1,2024-05-01 10:00:00,1.00,17850,UK\n")
    tracemalloc.start()
    try:
        report = _import("import_orders", path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "line 3: line too long" in report
    assert sorted(Order.objects.values_list("invoice_no", flat=True)) == ["1", "3"]
    assert peak < 10 * 2**20, peak  # the 30 MB line was never held whole


def test_a_file_with_a_byte_order_mark_imports(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeff".encode() + (ORDER_HEADER + "1,A,ok,2,2024-05-01 10:00:00,1.00,17850,UK\n").encode()
    )
    _import("import_orders", path)
    assert Order.objects.count() == 1


def test_a_run_whose_work_or_save_fails_is_marked_failed_never_left_running():
    with recorded_run(kind=ModelRun.Kind.RATINGS, params={}) as saved:
        saved.metrics = {"mae": float("nan"), "rmse": float("inf")}
    saved.refresh_from_db()
    assert saved.status == ModelRun.Status.SUCCEEDED
    assert (saved.metrics["mae"], saved.metrics["rmse"]) == (None, None)

    with pytest.raises(RuntimeError), recorded_run(kind=ModelRun.Kind.MF, params={}) as run:
        raise RuntimeError("out of memory")
    run.refresh_from_db()
    assert run.status == ModelRun.Status.FAILED
    assert "out of memory" in run.decision


# ---- event ids belong to their user; unknown fields are refused -------------------------


def test_an_event_id_is_the_senders_own_and_duplicates_are_reported():
    item, first, second = ItemFactory(), UserFactory(), UserFactory()
    shared = str(uuid.uuid4())
    event = {"item": item.pk, "kind": "like", "event_id": shared}
    one = client_for(first).post("/api/interactions/", event)
    other = client_for(second).post("/api/interactions/", event)
    assert one.json() == {"accepted": 1, "duplicates": []}
    assert other.json() == {"accepted": 1, "duplicates": []}  # not dropped as the first's
    again = client_for(first).post("/api/interactions/", [event, {**event, "kind": "view"}])
    assert again.json() == {"accepted": 0, "duplicates": [0, 1]}
    fresh = str(uuid.uuid4())
    twice = [{**event, "event_id": fresh}, {**event, "event_id": fresh}]
    assert client_for(first).post("/api/interactions/", twice).json() == {
        "accepted": 1,
        "duplicates": [1],
    }
    assert Interaction.objects.filter(event_id=shared).count() == 2


def test_an_unknown_field_is_refused_not_dropped(service_client):
    item, shopper = ItemFactory(sku="U1"), UserFactory()
    answer = service_client.post(
        "/api/interactions/", {"item": item.pk, "kind": "like", "user_id": shopper.pk}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        {"index": 0, "field": "user_id", "message": "Unknown field."}
    ]
    order = service_client.post(
        "/api/orders/",
        {"invoice_no": "U-1", "ordered_at": "2024-05-01T10:00:00Z", "customer_id": shopper.pk,
         "lines": [{"sku": "U1", "quantity": 1, "unit_price": "1.00"}]},
    )  # fmt: skip
    assert order.status_code == 400
    assert "customer_id" in order.json()["errors"]
    assert not Interaction.objects.exists()
    assert not Order.objects.exists()


# ---- caching headers, start-up keys ----------------------------------------------------------


def test_public_lists_vary_by_token_and_private_answers_are_never_stored(user_client, api):
    guest = api.get("/api/recommendations/trending/")
    assert "Authorization" in guest["Vary"]
    me = user_client.get("/api/auth/me/")
    assert me["Cache-Control"] == "private, no-store"
    assert "Authorization" in me["Vary"]


@pytest.mark.parametrize("key", ["x", "change-me", "a" * 60, "short-but-random-Qx81"])
def test_production_refuses_a_short_or_known_secret_key(key):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production",
             "SECRET_KEY": key, "ALLOWED_HOSTS": "picks.example"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in done.stderr


# ---- images: a pixel cap, and a replaced image leaves storage ------------------------------------


def test_a_small_file_of_a_huge_picture_is_refused(service_client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    buffer = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buffer, format="PNG")  # 144 megapixels
    assert len(buffer.getvalue()) < 200_000
    upload = SimpleUploadedFile("bomb.png", buffer.getvalue(), content_type="image/png")
    answer = service_client.post(
        "/api/items/",
        {"sku": "BOMB", "title": "Bomb", "price": "1.00", "image": upload},
        format="multipart",
    )
    assert answer.status_code == 400
    assert "megapixels" in str(answer.json()["errors"]["image"])


def test_a_replaced_image_is_deleted_from_storage(
    service_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)

    def upload(name: str) -> SimpleUploadedFile:
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
        return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")

    created = service_client.post(
        "/api/items/",
        {"sku": "IMG-R", "title": "T", "price": "1.00", "image": upload("a.png")},
        format="multipart",
    )
    item_id = created.json()["id"]
    first = Item.objects.get(pk=item_id).image.name
    with django_capture_on_commit_callbacks(execute=True):
        answer = service_client.patch(
            f"/api/items/{item_id}/", {"image": upload("b.png")}, format="multipart"
        )
    assert answer.status_code == 200
    second = Item.objects.get(pk=item_id).image.name
    assert second != first
    assert not default_storage.exists(first)
    assert default_storage.exists(second)


def test_the_list_endpoints_remember_only_verified_tokens_and_only_until_they_expire(user):
    token = PicksAccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=2))
    raw = str(token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/recommendations/deck/").status_code != 401  # verified, remembered
    head, payload, signature = raw.split(".")
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {head}.{payload}.{signature[:-4]}AAAA")
    assert forged.get("/api/recommendations/deck/").status_code == 401
    time.sleep(2.1)
    assert client.get("/api/recommendations/deck/").status_code == 401  # expired, though cached
