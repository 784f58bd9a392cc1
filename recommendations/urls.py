from django.urls import path

from recommendations.apis import ApiRootApi, HealthApi, InteractionCreateApi, OrderCreateApi
from recommendations.list_apis import (
    ItemBoughtTogetherApi,
    ItemSimilarApi,
    MoreLikeTheseApi,
    PredictApi,
    TrendingApi,
    UserDeckApi,
    UserTopBuysApi,
)

RECOMMENDATIONS = "recommendations/"

urlpatterns = [
    path("", ApiRootApi.as_view(), name="api-root"),
    path("interactions/", InteractionCreateApi.as_view(), name="interactions"),
    path("orders/", OrderCreateApi.as_view(), name="orders"),
    path("health/", HealthApi.as_view(), name="health"),
    path(f"{RECOMMENDATIONS}top-buys/", UserTopBuysApi.as_view(), name="top-buys"),
    path(
        f"{RECOMMENDATIONS}bought-together/<int:product_id>/",
        ItemBoughtTogetherApi.as_view(),
        name="bought-together",
    ),
    path(f"{RECOMMENDATIONS}similar/<int:product_id>/", ItemSimilarApi.as_view(), name="similar"),
    path(f"{RECOMMENDATIONS}trending/", TrendingApi.as_view(), name="trending"),
    path(f"{RECOMMENDATIONS}deck/", UserDeckApi.as_view(), name="deck"),
    path(f"{RECOMMENDATIONS}more-like-these/", MoreLikeTheseApi.as_view(), name="more-like-these"),
    path(f"{RECOMMENDATIONS}predict/", PredictApi.as_view(), name="predict"),
]
