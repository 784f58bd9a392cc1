from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsStaffOrService, acts_for_others
from catalog.models import Category, Item
from catalog.selectors import category_list, item_list
from catalog.services import item_create, item_update
from catalog.validators import validate_item_image
from config.fields import StrictCharField, StrictDecimalField
from config.parsers import JSONParser
from config.query import reject_blank, reject_repeated


class CategoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    category = CategoryOutputSerializer(allow_null=True)
    brand = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    colour = serializers.CharField()
    sizes = serializers.ListField(child=serializers.CharField())
    attributes = serializers.DictField()
    image_url = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_image_url(self, item: Item) -> str | None:
        return item.image.url if item.image else None


MAX_ATTRIBUTE_DEPTH = 4


def validate_attributes(value: dict, depth: int = 0) -> None:
    """Free attributes as PostgreSQL's jsonb and every client can take them: no NUL, no lone
    surrogate (in keys or values), not nested deeper than MAX_ATTRIBUTE_DEPTH."""
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise serializers.ValidationError(f"Nested deeper than {MAX_ATTRIBUTE_DEPTH} levels.")
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        for text in (key, child):
            if isinstance(text, str) and ("\x00" in text or not _encodable(text)):
                raise serializers.ValidationError("Text with a NUL or a lone surrogate.")
        if isinstance(child, dict | list):
            validate_attributes(child, depth + 1)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ItemWriteSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    title = StrictCharField(max_length=300)
    description = StrictCharField(required=False, allow_blank=True)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), required=False, allow_null=True
    )
    brand = StrictCharField(max_length=100, required=False, allow_blank=True)
    price = StrictDecimalField(max_digits=10, decimal_places=2, min_value=0)
    colour = StrictCharField(max_length=50, required=False, allow_blank=True)
    sizes = serializers.ListField(
        child=StrictCharField(max_length=20), required=False, max_length=50
    )
    attributes = serializers.DictField(required=False, validators=[validate_attributes])
    image = serializers.ImageField(required=False, validators=[validate_item_image])
    # An HTML form leaves out an unticked box: a new item is active unless it says otherwise.
    is_active = serializers.BooleanField(required=False, default=True)


class ItemPageSerializer(serializers.Serializer):
    """One page of items, as ItemPagination writes it."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ItemOutputSerializer(many=True)


class ItemPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=CategoryOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(CategoryOutputSerializer(category_list(), many=True).data)


class ItemListApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class FilterSerializer(serializers.Serializer):
        category = serializers.CharField(
            required=False, allow_blank=True, help_text="category id or slug"
        )
        min_price = StrictDecimalField(max_digits=10, decimal_places=2, required=False)
        max_price = StrictDecimalField(max_digits=10, decimal_places=2, required=False)
        size = serializers.CharField(required=False, allow_blank=True)
        brand = serializers.CharField(required=False, allow_blank=True)
        search = serializers.CharField(required=False, allow_blank=True)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    def get_permissions(self) -> list:
        if self.request.method == "POST":
            return [IsStaffOrService()]
        return [AllowAny()]

    @extend_schema(
        operation_id="items_list", parameters=[FilterSerializer], responses=ItemPageSerializer
    )
    def get(self, request: Request) -> Response:
        reject_repeated(request.query_params)
        reject_blank(request.query_params, ("page", "page_size"))
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = {
            k: v
            for k, v in filters.validated_data.items()
            if k not in ("page", "page_size") and v != ""  # an empty filter is no filter
        }
        items = item_list(**params, include_inactive=acts_for_others(request.user))
        paginator = ItemPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(ItemOutputSerializer(page, many=True).data)

    @extend_schema(request=ItemWriteSerializer, responses={201: ItemOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = ItemWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if Item.objects.filter(sku=serializer.validated_data["sku"]).exists():
            raise serializers.ValidationError({"sku": ["An item with this sku exists."]})
        item = item_create(**serializer.validated_data)
        return Response(ItemOutputSerializer(item).data, status=status.HTTP_201_CREATED)


class ItemDetailApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self) -> list:
        if self.request.method == "PATCH":
            return [IsStaffOrService()]
        return [AllowAny()]

    @extend_schema(responses=ItemOutputSerializer)
    def get(self, request: Request, item_id: int) -> Response:
        visible = item_list(include_inactive=acts_for_others(request.user))
        item = get_object_or_404(visible, pk=item_id)
        return Response(ItemOutputSerializer(item).data)

    @extend_schema(request=ItemWriteSerializer, responses=ItemOutputSerializer)
    def patch(self, request: Request, item_id: int) -> Response:
        item = get_object_or_404(Item, pk=item_id)
        serializer = ItemWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if not serializer.validated_data:  # {} or a body that parses to no field at all
            raise serializers.ValidationError(
                {"non_field_errors": ["Give at least one field to change."]}
            )
        sku = serializer.validated_data.get("sku")
        if sku and Item.objects.filter(sku=sku).exclude(pk=item.pk).exists():
            raise serializers.ValidationError({"sku": ["An item with this sku exists."]})
        item = item_update(item=item, **serializer.validated_data)
        return Response(ItemOutputSerializer(item).data)
