from django.urls import path

from catalog.apis import CategoryListApi, ItemDetailApi, ItemListApi

urlpatterns = [
    path("categories/", CategoryListApi.as_view(), name="categories"),
    path("items/", ItemListApi.as_view(), name="items"),
    path("items/<int:item_id>/", ItemDetailApi.as_view(), name="item-detail"),
]
