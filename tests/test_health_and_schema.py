import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_health_is_200_when_database_and_redis_answer(api):
    response = api.get("/api/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_is_503_naming_redis_when_redis_is_unreachable(api, settings, closed_redis_url):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": closed_redis_url}}
    response = api.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")


def test_the_openapi_schema_documents_every_endpoint(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    for path in (
        "/api/auth/register/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/auth/me/",
        "/api/items/",
        "/api/items/{item_id}/",
        "/api/interactions/",
        "/api/orders/",
        "/api/health/",
        "/api/recommendations/top-buys/",
        "/api/recommendations/bought-together/{product_id}/",
        "/api/recommendations/similar/{product_id}/",
        "/api/recommendations/trending/",
        "/api/recommendations/deck/",
        "/api/recommendations/more-like-these/",
        "/api/recommendations/predict/",
    ):
        assert path in paths


def test_the_interactive_docs_page_is_served(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_cors_allows_only_the_configured_origins(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    allowed = api.get("/api/health/", HTTP_ORIGIN="https://shop.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    other = api.get("/api/health/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other
