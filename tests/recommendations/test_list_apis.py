import numpy as np
import orjson
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy.special import expit

from catalog.models import Item
from recommendations import store
from recommendations.ml.synthetic import ShopSpec
from recommendations.services.demo import generate_demo_data
from recommendations.services.freshness import run_refresher
from recommendations.services.pipeline import run_pipeline
from recommendations.services.publish import refresh_item_card
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
SPEC = ShopSpec(users=300, items=240, events=15_000, groups=4, orders=2500, seed=4)
BASE = "/api/recommendations"


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker):
    """One demo shop and one pipeline run for the whole module (read-only tests)."""
    with django_db_blocker.unblock():
        demo = generate_demo_data(spec=SPEC)
        run_pipeline()
        yield demo
        call_command("flush", "--noinput")


@pytest.fixture(autouse=True)
def _each_test_starts_with_an_empty_store():
    """Overrides the suite's per-test Redis cleanup: this module's lists live for all its tests."""
    return


@pytest.fixture(scope="module", autouse=True)
def _module_store_cleanup():
    yield
    store.delete_prefix()


def user_client(shop, row: int = 0):
    from accounts.models import User

    return client_for(User.objects.get(pk=int(shop.user_ids[row])))


def test_a_logged_in_user_gets_their_personal_top_buys_with_cards(shop):
    body = user_client(shop).get(f"{BASE}/top-buys/").json()
    assert body["source"] == "personal"
    assert body["fallback"] is False
    assert body["count"] == 20
    first = body["results"][0]
    assert {"id", "sku", "title", "price", "image_url", "category", "brand", "sizes"} <= first[
        "item"
    ].keys()
    assert first["source"] == "als"
    assert body["version"] == store.live_version(store.TOP_BUYS)
    assert body["built_at"]


def test_a_guest_gets_the_global_top_buys_publicly_cacheable(shop, api):
    response = api.get(f"{BASE}/top-buys/")
    assert response.json()["source"] == "global"
    assert response.json()["results"][0]["source"] == "popular"
    assert "public" in response["Cache-Control"]


def test_a_user_with_no_list_falls_back_to_the_global_list_and_says_so(shop):
    body = client_for(UserFactory()).get(f"{BASE}/top-buys/").json()
    assert (body["source"], body["fallback"]) == ("global", True)


def test_another_users_list_is_refused_unless_staff_or_service(shop):
    other = int(shop.user_ids[1])
    assert user_client(shop).get(f"{BASE}/top-buys/", {"user_id": other}).status_code == 403
    service = client_for(UserFactory(is_service=True))
    body = service.get(f"{BASE}/top-buys/", {"user_id": other}).json()
    assert body["source"] == "personal"


def test_filters_and_exclude_apply_to_every_list(shop, api):
    everything = api.get(f"{BASE}/trending/", {"limit": 100}).json()["results"]
    category = everything[0]["item"]["category"]
    cheap = api.get(f"{BASE}/trending/", {"category": category, "max_price": "60"}).json()
    assert cheap["results"]
    assert all(r["item"]["category"] == category for r in cheap["results"])
    assert all(float(r["item"]["price"]) <= 60 for r in cheap["results"])
    first = everything[0]["item"]["id"]
    shown = api.get(f"{BASE}/trending/", {"exclude": str(first)}).json()["results"]
    assert first not in [r["item"]["id"] for r in shown]
    sized = api.get(f"{BASE}/trending/", {"size": "42", "limit": 100}).json()
    assert all("42" in r["item"]["sizes"] for r in sized["results"])
    assert sized["complete"] is False


def test_bad_query_values_are_a_400(shop, api):
    assert api.get(f"{BASE}/trending/", {"limit": 0}).status_code == 400
    assert api.get(f"{BASE}/trending/", {"exclude": "a,b"}).status_code == 400
    assert api.get(f"{BASE}/more-like-these/").status_code == 400


def test_bought_together_ranks_the_planted_pair_and_unknown_products_are_404(shop, api):
    a, b = (int(shop.item_ids[i]) for i in shop.shop.pairs[0])
    body = api.get(f"{BASE}/bought-together/{a}/").json()
    assert body["source"] == "bought_together"
    assert body["results"][0]["item"]["id"] == b
    missing = api.get(f"{BASE}/bought-together/999999/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_a_product_without_rules_falls_back_to_its_similar_items(shop, api):
    paired = {int(shop.item_ids[i]) for pair in shop.shop.pairs for i in pair}
    lonely = next(int(i) for i in shop.item_ids if int(i) not in paired)
    body = api.get(f"{BASE}/bought-together/{lonely}/").json()
    assert (body["source"], body["fallback"]) == ("similar", True)
    assert {r["source"] for r in body["results"]} == {"fallback"}
    similar = api.get(f"{BASE}/similar/{lonely}/").json()
    assert similar["source"] == "similar"
    assert lonely not in [r["item"]["id"] for r in similar["results"]]


def test_the_deck_needs_a_login_and_drops_what_was_swiped_since(shop, api):
    assert api.get(f"{BASE}/deck/").status_code == 401
    client = user_client(shop, 5)
    deck = client.get(f"{BASE}/deck/", {"limit": 5}).json()
    assert deck["source"] == "deck"
    first = deck["results"][0]["item"]["id"]
    store.add_seen_many(seen={int(shop.user_ids[5]): {first}})
    again = client.get(f"{BASE}/deck/", {"limit": 5}).json()
    assert first not in [r["item"]["id"] for r in again["results"]]


def test_a_page_reads_past_the_entries_it_must_skip_in_stored_order(shop, api):
    """A read takes a list in slices of the page's size: when whole slices are excluded or
    seen, the entries after them fill the page, in the stored order (packed lists and sorted
    sets alike)."""

    def ids(answer) -> list[int]:
        return [r["item"]["id"] for r in answer.json()["results"]]

    everything = ids(api.get(f"{BASE}/trending/", {"limit": 100}))
    skipped = ",".join(map(str, everything[:12]))
    page = api.get(f"{BASE}/trending/", {"limit": 5, "exclude": skipped})
    assert ids(page) == everything[12:17]
    assert page.json()["complete"] is True

    client = user_client(shop, 7)
    deck = ids(client.get(f"{BASE}/deck/", {"limit": 10}))
    store.add_seen_many(seen={int(shop.user_ids[7]): set(deck[:6])})
    assert ids(client.get(f"{BASE}/deck/", {"limit": 4})) == deck[6:10]

    longest = max(
        (api.get(f"{BASE}/bought-together/{i}/", {"limit": 100}) for i in shop.item_ids),
        key=lambda answer: (answer.json()["source"] == "bought_together", len(ids(answer))),
    )
    ranked = ids(longest)
    assert longest.json()["source"] == "bought_together"
    assert len(ranked) >= 2
    product = longest.request["PATH_INFO"].rstrip("/").rsplit("/", 1)[1]
    page = api.get(f"{BASE}/bought-together/{product}/", {"limit": 1, "exclude": ranked[0]})
    assert ids(page) == ranked[1:2]  # the first slice (one entry) excluded: a second read


def test_more_like_these_explains_each_result_by_a_liked_item(shop, api):
    liked = [int(shop.item_ids[0]), int(shop.item_ids[4])]
    body = api.get(f"{BASE}/more-like-these/", {"items": ",".join(map(str, liked))}).json()
    assert body["results"]
    assert all(r["because"] in liked for r in body["results"])
    assert not {r["item"]["id"] for r in body["results"]} & set(liked)


def test_predict_is_the_dot_product_of_the_stored_embeddings(shop):
    user_id, item_id = int(shop.user_ids[2]), int(shop.item_ids[7])
    body = user_client(shop, 2).get(f"{BASE}/predict/", {"item_id": item_id}).json()
    u = store.read_vectors("user", [user_id])[user_id]
    v = store.read_vectors("item", [item_id])[item_id]
    assert body["like_probability"] == pytest.approx(float(expit(np.dot(u, v))), rel=1e-5)
    assert user_client(shop, 2).get(f"{BASE}/predict/", {"item_id": 999999}).status_code == 404


def test_a_deactivated_item_disappears_from_every_list_at_once(shop, api):
    top = api.get(f"{BASE}/trending/").json()["results"][0]["item"]["id"]
    item = Item.objects.get(pk=top)
    item.is_active = False
    refresh_item_card(item)
    try:
        assert top not in [r["item"]["id"] for r in api.get(f"{BASE}/trending/").json()["results"]]
        assert api.get(f"{BASE}/similar/{top}/").status_code == 404
    finally:
        item.is_active = True
        refresh_item_card(item)


@pytest.mark.parametrize(
    "path",
    ["top-buys/", "trending/", "deck/", "more-like-these/?items=1,2", "similar/{item}/",
     "bought-together/{item}/", "predict/?item_id={item}"],
)  # fmt: skip
def test_no_list_request_touches_the_database(shop, path):
    client = user_client(shop, 3)
    url = f"{BASE}/{path.format(item=int(shop.item_ids[1]))}"
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    assert len(queries) == 0


def test_lists_answer_503_json_when_redis_is_unreachable(shop, api, settings, closed_redis_url):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": closed_redis_url}}
    response = api.get(f"{BASE}/trending/")
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("/trending/", "192.0.2.77"),  # counted inside the list read
        ("/more-like-these/?items={item}", "192.0.2.78"),  # counted by the throttle itself
    ],
)
def test_crossing_the_list_rate_gets_429_with_retry_after(shop, api, settings, path, address):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "lists_anon": "3/min"},
    }
    url = BASE + path.format(item=shop.item_ids[0])
    client_address = {"REMOTE_ADDR": address}  # counted apart from the other tests
    statuses = [api.get(url, **client_address).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get(url, **client_address)
    assert response.json()["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 61


def test_a_new_client_walks_the_whole_demo_through_the_api(
    shop, api, django_capture_on_commit_callbacks
):
    """register -> log in -> swipe -> deck, top buys, bought together, similar, more like these;
    after the next batch run, a personal deck and predictions for the newcomer."""
    assert (
        api.post(
            "/api/auth/register/", {"username": "newcomer", "password": "correct-horse-battery"}
        ).status_code
        == 201
    )
    login = api.post(
        "/api/auth/token/", {"username": "newcomer", "password": "correct-horse-battery"}
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    group_items = sorted(shop.items_of_group(1))
    liked, disliked = group_items[:8], sorted(shop.items_of_group(2))[:4]
    events = [{"item": i, "kind": "like"} for i in liked]
    events += [{"item": i, "kind": "dislike"} for i in disliked]
    with django_capture_on_commit_callbacks(execute=True):  # the swipes reach Redis on commit
        assert api.post("/api/interactions/", events, format="json").status_code == 201

    # Before the refresher or the next batch: fallbacks, without what was just swiped.
    deck = api.get(f"{BASE}/deck/").json()
    assert deck["source"] == "onboarding"
    assert deck["fallback"] is True
    assert not {r["item"]["id"] for r in deck["results"]} & {*liked, *disliked}
    assert api.get(f"{BASE}/top-buys/").json()["source"] == "global"
    assert api.get(f"{BASE}/bought-together/{liked[0]}/").json()["results"]
    assert api.get(f"{BASE}/similar/{liked[0]}/").json()["source"] == "similar"
    more = api.get(f"{BASE}/more-like-these/", {"items": f"{liked[0]},{liked[1]}"}).json()
    assert more["results"]
    assert api.get(f"{BASE}/predict/", {"item_id": liked[0]}).json()["source"] == "item_prior"

    run_refresher(once=True)  # the refresher, between batches
    deck = api.get(f"{BASE}/deck/").json()
    assert deck["source"] == "deck"
    assert not {r["item"]["id"] for r in deck["results"]} & {*liked, *disliked}
    assert api.get(f"{BASE}/top-buys/").json()["source"] == "personal"
    assert api.get(f"{BASE}/predict/", {"item_id": liked[0]}).json()["source"] == "personal"

    run_pipeline(force=True)  # the nightly batch

    deck = api.get(f"{BASE}/deck/").json()
    assert deck["source"] == "deck"
    shown = [r["item"]["id"] for r in deck["results"]]
    assert not set(shown) & {*liked, *disliked}
    assert len(shown) == 20  # deck quality itself is tested on a larger shop in test_swipe
    predicted = api.get(f"{BASE}/predict/", {"item_id": group_items[10]}).json()
    assert 0 < predicted["like_probability"] < 1


def test_the_query_takes_what_the_schema_and_the_catalog_allow_and_refuses_beyond(api):
    """One definition (ListQuerySerializer) for the schema and the parser: a 100-character
    slug, as Category.slug allows, is a valid filter; 101 is not."""
    ok = api.get(f"/api/recommendations/trending/?category={'a' * 100}&min_price=&exclude=")
    assert ok.status_code in (200, 404), ok.content  # 404 only when nothing is published
    assert ok.status_code != 400
    for bad in (f"category={'a' * 101}", "min_price=1e3", "exclude=01,2", "limit=5.0"):
        answer = api.get(f"/api/recommendations/trending/?{bad}")
        assert answer.status_code == 400, bad


def test_a_rendered_list_has_exactly_the_fields_its_schema_documents():
    from recommendations.list_apis import ListOutputSerializer, ResultSerializer, render
    from recommendations.selectors import RankedList, Result

    card = {"id": 1, "sku": "A", "title": "T", "price": "1.00", "image_url": None,
            "category": None, "brand": "", "colour": "", "sizes": []}  # fmt: skip
    ranked = RankedList(
        results=[Result(orjson.Fragment(orjson.dumps(card)), 0.5, "als", 7)],
        source="personal", fallback=False, version=3, built_at=None, limit=1,
    )  # fmt: skip
    body = orjson.loads(render(ranked, public=False).content)
    assert set(body) == set(ListOutputSerializer().fields)
    assert set(body["results"][0]) == set(ResultSerializer().fields)
    assert body["results"][0]["because"] == 7
    assert body["count"] == 1
    assert body["complete"] is True
