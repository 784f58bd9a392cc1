import threading
import uuid

import pytest
from django.db import connection

from recommendations.models import Interaction
from tests import reads
from tests.conftest import client_for
from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_right_swipe_is_stored_for_the_logged_in_user(user_client, user):
    item = ItemFactory()
    response = user_client.post("/api/interactions/", {"item": item.id, "kind": "like"})
    assert response.status_code == 201, response.json()
    event = Interaction.objects.get()
    assert (event.user_id, event.item_id, event.kind) == (user.id, item.id, "like")


def test_a_batch_of_events_is_stored_whole(user_client):
    items = ItemFactory.create_batch(3)
    kinds = ["like", "dislike", "view"]
    payload = [{"item": i.id, "kind": k} for i, k in zip(items, kinds, strict=True)]
    response = user_client.post("/api/interactions/", payload)
    assert response.status_code == 201
    assert response.json() == {"accepted": 3, "duplicates": []}
    assert sorted(Interaction.objects.values_list("kind", flat=True)) == sorted(kinds)


def test_a_batch_with_bad_entries_is_refused_whole_naming_each_entry_and_field(user_client):
    item = ItemFactory()
    payload = [
        {"item": item.id, "kind": "like"},
        {"item": item.id, "kind": "superlike"},
        {"item": 999_999, "kind": "view"},
        {"item": item.id, "kind": "view", "timestamp": "yesterday-ish"},
    ]
    response = user_client.post("/api/interactions/", payload)
    assert response.status_code == 400
    errors = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(1, "kind"), (3, "timestamp")}
    assert Interaction.objects.count() == 0

    payload = [{"item": item.id, "kind": "like"}, {"item": 999_999, "kind": "view"}]
    response = user_client.post("/api/interactions/", payload)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 1, "field": "item", "message": "Unknown item."}]
    assert Interaction.objects.count() == 0


def test_more_than_a_thousand_events_in_one_request_is_a_400(user_client):
    item = ItemFactory()
    response = user_client.post("/api/interactions/", [{"item": item.id, "kind": "view"}] * 1001)
    assert response.status_code == 400


def test_the_same_event_id_sent_twice_is_stored_once(user_client):
    item = ItemFactory()
    event = {"item": item.id, "kind": "like", "event_id": str(uuid.uuid4())}
    assert user_client.post("/api/interactions/", event).status_code == 201
    assert user_client.post("/api/interactions/", event).status_code == 201
    assert Interaction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_event_id_sent_by_8_threads_at_once_is_stored_once():
    user, item = UserFactory(), ItemFactory()
    event = {"item": item.id, "kind": "purchase", "event_id": str(uuid.uuid4())}
    start = threading.Barrier(8)
    statuses = []

    def send() -> None:
        client = client_for(user)
        start.wait()
        statuses.append(client.post("/api/interactions/", event, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 8
    assert Interaction.objects.filter(event_id=event["event_id"]).count() == 1


def test_a_user_cannot_log_events_for_another_user(user_client):
    other, item = UserFactory(), ItemFactory()
    response = user_client.post(
        "/api/interactions/", {"item": item.id, "kind": "like", "user": other.id}
    )
    assert response.status_code == 403
    assert Interaction.objects.count() == 0


def test_a_service_account_logs_events_for_its_shoppers(service_client):
    shopper, item = UserFactory(), ItemFactory()
    response = service_client.post(
        "/api/interactions/", {"item": item.id, "kind": "cart", "user": shopper.id}
    )
    assert response.status_code == 201
    assert Interaction.objects.get().user_id == shopper.id


def test_a_guest_cannot_log_events(api):
    item = ItemFactory()
    assert api.post("/api/interactions/", {"item": item.id, "kind": "like"}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_swipes_and_purchases_are_remembered_in_redis_for_the_deck():
    user = UserFactory()
    liked, disliked, viewed = ItemFactory.create_batch(3)
    payload = [
        {"item": liked.id, "kind": "like"},
        {"item": disliked.id, "kind": "dislike"},
        {"item": viewed.id, "kind": "view"},
    ]
    assert client_for(user).post("/api/interactions/", payload, format="json").status_code == 201
    assert reads.seen_items(user_id=user.id) == {liked.id, disliked.id}


@pytest.mark.django_db(transaction=True)
def test_an_event_is_stored_even_when_redis_is_down(settings, closed_redis_url):
    user, item = UserFactory(), ItemFactory()
    client = client_for(user)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": closed_redis_url}}
    response = client.post("/api/interactions/", {"item": item.id, "kind": "like"}, format="json")
    assert response.status_code == 201
    assert Interaction.objects.filter(user=user, item=item, kind="like").exists()
