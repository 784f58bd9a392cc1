import pytest

from recommendations.models import Order, OrderLine
from tests import reads
from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def order(**extra) -> dict:
    return {
        "invoice_no": "INV-1",
        "ordered_at": "2024-05-01T10:00:00Z",
        "lines": [{"sku": "A", "quantity": 2, "unit_price": "9.99"}],
        **extra,
    }


def test_a_service_account_pushes_an_order_for_a_customer_once(service_client):
    ItemFactory(sku="A")
    shopper = UserFactory()
    first = service_client.post("/api/orders/", order(customer=shopper.id))
    assert first.status_code == 201, first.json()
    again = service_client.post("/api/orders/", order(customer=shopper.id))
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert Order.objects.count() == 1
    line = OrderLine.objects.get()
    assert (line.quantity, str(line.unit_price), line.order.customer_id) == (2, "9.99", shopper.id)


def test_an_order_names_its_customer_by_the_shops_id(service_client):
    ItemFactory(sku="A")
    response = service_client.post("/api/orders/", order(customer_external_id="C-77"))
    assert response.status_code == 201
    assert Order.objects.get().customer.external_id == "C-77"


def test_a_c_invoice_is_a_cancellation(service_client):
    ItemFactory(sku="A")
    response = service_client.post(
        "/api/orders/",
        order(invoice_no="C-INV-1", lines=[{"sku": "A", "quantity": -2, "unit_price": "9.99"}]),
    )
    assert response.json()["is_cancelled"] is True


def test_an_order_with_an_unknown_sku_is_refused(service_client):
    response = service_client.post("/api/orders/", order())
    assert response.status_code == 400
    assert "Unknown sku: A" in str(response.json()["errors"])
    assert Order.objects.count() == 0


def test_shoppers_cannot_push_orders(user_client):
    ItemFactory(sku="A")
    assert user_client.post("/api/orders/", order()).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_bought_items_are_remembered_for_the_deck(service_client):
    item, shopper = ItemFactory(sku="A"), UserFactory()
    service_client.post("/api/orders/", order(customer=shopper.id), format="json")
    assert reads.seen_items(user_id=shopper.id) == {item.id}
