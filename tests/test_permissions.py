"""Who may do what: every endpoint, read and write, for each kind of caller.

`owner` is the shopper whose personal data the request is about; `other` is another shopper.
"""

import itertools

import numpy as np
import pytest

from recommendations import store
from tests.conftest import client_for
from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db
ROLES = ("guest", "owner", "other", "service", "staff")
_numbers = itertools.count(1)


@pytest.fixture
def world():
    owner, other = UserFactory(), UserFactory()
    service, staff = UserFactory(is_service=True), UserFactory(is_staff=True)
    item, second = ItemFactory(sku="A"), ItemFactory(sku="B")
    store.write_cards(
        [{"id": i.id, "title": i.title, "price": str(i.price)} for i in (item, second)]
    )
    with store.publishing(store.TOP_BUYS) as publication:
        publication.put(owner.id, [second.id, item.id], [0.9, 0.5])
        publication.commit()
    with store.publishing(store.GLOBAL) as publication:
        publication.put(store.GLOBAL_TOP_BUYS, [item.id], [1.0])
        publication.put(store.GLOBAL_TRENDING, [item.id], [1.0])
        publication.commit()
    with store.publishing(store.MF) as publication:
        ids = np.array([owner.id, other.id, service.id, staff.id])
        publication.put_vectors("user", ids, np.ones((4, 2), np.float32))
        publication.put_vectors("item", np.array([item.id]), np.ones((1, 2), np.float32))
        publication.commit()
    return {"owner": owner, "other": other, "service": service, "staff": staff, "item": item}


def _call(world: dict, role: str, method: str, path: str, body: dict | None):
    from rest_framework.test import APIClient

    client = APIClient() if role == "guest" else client_for(world[role])
    url = path.format(owner=world["owner"].id, item=world["item"].id)
    if body is not None:
        body = {k: (v.format(owner=world["owner"].id, item=world["item"].id, n=next(_numbers))
                    if isinstance(v, str) else v) for k, v in body.items()}  # fmt: skip
        if "user" in body:
            body["user"] = int(body["user"])
        if "item" in body:
            body["item"] = int(body["item"])
    return getattr(client, method)(url, body, format="json")


R = "/api/recommendations"
ORDER = {
    "invoice_no": "INV-{n}",
    "ordered_at": "2024-05-01T10:00:00Z",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}],
}
#   method, path, body, expected status for guest, owner, other, service, staff
MATRIX = [
    ("get", "/api/health/", None, (200, 200, 200, 200, 200)),
    ("get", "/api/auth/me/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/items/", None, (200, 200, 200, 200, 200)),
    ("get", "/api/items/{item}/", None, (200, 200, 200, 200, 200)),
    ("post", "/api/items/", {"sku": "N-{n}", "title": "New", "price": "2.00"},
     (401, 403, 403, 201, 201)),
    ("patch", "/api/items/{item}/", {"price": "3.00"}, (401, 403, 403, 200, 200)),
    ("post", "/api/orders/", ORDER, (401, 403, 403, 201, 201)),
    ("post", "/api/interactions/", {"item": "{item}", "kind": "like"},
     (401, 201, 201, 201, 201)),
    ("post", "/api/interactions/", {"item": "{item}", "kind": "like", "user": "{owner}"},
     (401, 201, 403, 201, 201)),
    ("get", f"{R}/top-buys/", None, (200, 200, 200, 200, 200)),
    ("get", f"{R}/top-buys/?user_id={{owner}}", None, (401, 200, 403, 200, 200)),
    ("get", f"{R}/deck/", None, (401, 200, 200, 200, 200)),
    ("get", f"{R}/predict/?item_id={{item}}", None, (401, 200, 200, 200, 200)),
    ("get", f"{R}/predict/?item_id={{item}}&user_id={{owner}}", None, (401, 200, 403, 200, 200)),
    ("get", f"{R}/trending/", None, (200, 200, 200, 200, 200)),
    ("get", f"{R}/bought-together/{{item}}/", None, (200, 200, 200, 200, 200)),
    ("get", f"{R}/similar/{{item}}/", None, (200, 200, 200, 200, 200)),
    ("get", f"{R}/more-like-these/?items={{item}}", None, (200, 200, 200, 200, 200)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "role", "expected"),
    [
        pytest.param(method, path, body, role, status, id=f"{role}-{method}-{path}")
        for method, path, body, statuses in MATRIX
        for role, status in zip(ROLES, statuses, strict=True)
    ],
)
def test_permission_matrix(world, method, path, body, role, expected):
    response = _call(world, role, method, path, body)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        assert {"detail", "code"} <= response.json().keys()


def test_a_personal_list_is_seen_only_by_its_owner_and_the_staff_acting_for_them(world):
    owner_list = client_for(world["owner"]).get(f"{R}/top-buys/").json()
    assert owner_list["source"] == "personal"
    other_list = client_for(world["other"]).get(f"{R}/top-buys/").json()
    assert other_list["source"] == "global"  # their own (empty) list's fallback, not the owner's
    for role in ("service", "staff"):
        acting = client_for(world[role]).get(f"{R}/top-buys/", {"user_id": world["owner"].id})
        assert acting.json()["results"] == owner_list["results"]
