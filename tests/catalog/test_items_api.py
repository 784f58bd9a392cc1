import io
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import Item
from tests.factories import CategoryFactory, ItemFactory

pytestmark = pytest.mark.django_db


def png_bytes(image_format: str = "PNG", size: tuple[int, int] = (4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format=image_format)
    return buffer.getvalue()


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def shelf():
    dresses, shoes = CategoryFactory(name="Dresses"), CategoryFactory(name="Sneakers")
    return {
        "cheap_dress": ItemFactory(category=dresses, price=Decimal("20"), sizes=["S", "M"]),
        "dear_dress": ItemFactory(
            category=dresses, price=Decimal("200"), sizes=["L"], brand="Basalt"
        ),
        "sneaker": ItemFactory(
            category=shoes, price=Decimal("90"), sizes=["42"], title="Trail runner"
        ),
        "hidden": ItemFactory(category=dresses, price=Decimal("25"), is_active=False),
    }


def test_the_item_list_filters_by_category_price_size_brand_and_search(api, shelf):
    assert ids(api.get("/api/items/", {"category": "dresses"})) == [
        shelf["cheap_dress"].id,
        shelf["dear_dress"].id,
    ]
    assert ids(api.get("/api/items/", {"max_price": "100"})) == [
        shelf["cheap_dress"].id,
        shelf["sneaker"].id,
    ]
    assert ids(api.get("/api/items/", {"min_price": "50", "max_price": "100"})) == [
        shelf["sneaker"].id
    ]
    assert ids(api.get("/api/items/", {"size": "L"})) == [shelf["dear_dress"].id]
    assert ids(api.get("/api/items/", {"brand": "basalt"})) == [shelf["dear_dress"].id]
    assert ids(api.get("/api/items/", {"search": "trail"})) == [shelf["sneaker"].id]


def test_a_deactivated_item_is_hidden_from_shoppers(api, shelf):
    assert shelf["hidden"].id not in ids(api.get("/api/items/"))
    assert api.get(f"/api/items/{shelf['hidden'].id}/").status_code == 404


def test_the_item_list_is_paginated(api):
    ItemFactory.create_batch(25)
    first = api.get("/api/items/").json()
    assert first["count"] == 25
    assert len(first["results"]) == 20
    assert len(api.get("/api/items/", {"page": 2}).json()["results"]) == 5


def test_a_bad_filter_value_is_a_400(api):
    response = api.get("/api/items/", {"min_price": "cheap"})
    assert response.status_code == 400
    assert "min_price" in response.json()["errors"]


def test_shoppers_cannot_create_items(user_client):
    response = user_client.post("/api/items/", {"sku": "X1", "title": "x", "price": "1.00"})
    assert response.status_code == 403
    assert not Item.objects.filter(sku="X1").exists()


def test_a_service_account_creates_an_item_with_an_image_served_by_url(
    service_client, tmp_path, settings
):
    settings.MEDIA_ROOT = str(tmp_path)
    category = CategoryFactory(name="Bags")
    image = SimpleUploadedFile("../../evil name.png", png_bytes(), content_type="image/png")
    response = service_client.post(
        "/api/items/",
        {
            "sku": "BAG-1",
            "title": "Tote",
            "price": "35.00",
            "category": category.id,
            "image": image,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["image_url"].startswith("/media/items/")
    assert "evil" not in body["image_url"]
    stored = Item.objects.get(sku="BAG-1").image.name
    assert default_storage.exists(stored)
    assert body["is_active"] is True  # a form without the box: active, as over JSON
    assert Item.objects.get(sku="BAG-1").is_active


def test_a_multipart_patch_without_the_box_leaves_the_item_active(service_client):
    item = ItemFactory(is_active=True)
    response = service_client.patch(f"/api/items/{item.pk}/", {"title": "New"}, format="multipart")
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert (item.title, item.is_active) == ("New", True)


def test_a_service_account_updates_and_deactivates_an_item(service_client, api):
    item = ItemFactory(price=Decimal("10"))
    response = service_client.patch(
        f"/api/items/{item.id}/", {"price": "12.50", "is_active": False}
    )
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert item.price == Decimal("12.50")
    assert item.is_active is False
    assert api.get(f"/api/items/{item.id}/").status_code == 404


def test_a_duplicate_sku_is_a_400(service_client):
    ItemFactory(sku="DUP")
    response = service_client.post("/api/items/", {"sku": "DUP", "title": "x", "price": "1.00"})
    assert response.status_code == 400
    assert "sku" in response.json()["errors"]


@pytest.mark.parametrize(
    ("name", "content", "max_bytes", "message"),
    [
        ("photo.png", b"this is not an image at all", None, "image"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, None, "image"),  # truncated PNG
        ("photo.bmp", png_bytes("BMP"), None, "JPEG, PNG, WebP, GIF"),
        ("photo.tiff", png_bytes("TIFF"), None, "JPEG, PNG, WebP, GIF"),
        ("photo.png", png_bytes(size=(600, 600)), 1024, "larger than 1 KiB"),
    ],
)
def test_a_bad_image_is_a_400_and_no_item_is_made(
    service_client, tmp_path, settings, name, content, max_bytes, message
):
    settings.MEDIA_ROOT = str(tmp_path)
    if max_bytes:
        settings.MAX_IMAGE_BYTES = max_bytes
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = service_client.post(
        "/api/items/",
        {"sku": "IMG-1", "title": "Framed", "price": "9.00", "image": upload},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert message in str(body["errors"]["image"])
    assert not Item.objects.filter(sku="IMG-1").exists()
    assert not list(tmp_path.rglob("*.*"))


def test_an_image_named_like_a_page_is_refused(service_client, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    upload = SimpleUploadedFile("index.html", png_bytes(), content_type="text/html")
    response = service_client.post(
        "/api/items/",
        {"sku": "IMG-2", "title": "Poster", "price": "9.00", "image": upload},
        format="multipart",
    )
    assert response.status_code == 400
    assert "html" in str(response.json()["errors"]["image"])


@pytest.mark.parametrize("body", [{}, {"unknown": "x"}])
def test_a_patch_that_changes_nothing_is_a_400(service_client, body):
    item = ItemFactory()
    response = service_client.patch(f"/api/items/{item.id}/", body, format="json")
    assert response.status_code == 400
    assert "at least one field" in str(response.json()["errors"])
