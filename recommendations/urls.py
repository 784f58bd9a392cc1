from django.urls import path

from recommendations.apis import HealthApi, InteractionCreateApi, OrderCreateApi

urlpatterns = [
    path("interactions/", InteractionCreateApi.as_view(), name="interactions"),
    path("orders/", OrderCreateApi.as_view(), name="orders"),
    path("health/", HealthApi.as_view(), name="health"),
]
