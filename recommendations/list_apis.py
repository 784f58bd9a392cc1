"""Recommendation lists over HTTP: Redis only (stateless JWT, no SQL, no model)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from accounts.permissions import acts_for_others
from recommendations import selectors

MAX_LIMIT = 100
MAX_IDS = 100


class IdListField(serializers.CharField):
    """Comma-separated positive integer ids, e.g. `exclude=3,8,12`."""

    def to_internal_value(self, data: object) -> list[int]:
        text = super().to_internal_value(data)
        try:
            ids = [int(part) for part in text.split(",") if part.strip()]
        except ValueError as exc:
            raise serializers.ValidationError("Use comma-separated integer ids.") from exc
        if any(i < 1 for i in ids) or len(ids) > MAX_IDS:
            raise serializers.ValidationError(f"Give 1 to {MAX_IDS} positive ids.")
        return ids


class ListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=MAX_LIMIT)
    exclude = IdListField(required=False, help_text="ids the client already shows")
    category = serializers.SlugField(required=False)
    min_price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False)
    max_price = serializers.DecimalField(max_digits=10, decimal_places=2, required=False)
    size = serializers.CharField(required=False, max_length=20)
    brand = serializers.CharField(required=False, max_length=100)

    def filters(self) -> selectors.Filters:
        data = self.validated_data
        return selectors.Filters(
            category=data.get("category"),
            min_price=data.get("min_price"),
            max_price=data.get("max_price"),
            size=data.get("size"),
            brand=data.get("brand"),
            exclude=frozenset(data.get("exclude") or ()),
        )


class CardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    title = serializers.CharField()
    price = serializers.CharField()
    image_url = serializers.CharField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    brand = serializers.CharField()
    colour = serializers.CharField()
    sizes = serializers.ListField(child=serializers.CharField())


class ResultSerializer(serializers.Serializer):
    item = CardSerializer()
    score = serializers.FloatField()
    source = serializers.CharField(help_text='model name, "popular", "explore" or "fallback"')
    because = serializers.IntegerField(allow_null=True, help_text="the item that caused it")


class ListOutputSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="which list answered")
    fallback = serializers.BooleanField(help_text="true when the asked-for list was missing")
    version = serializers.IntegerField(allow_null=True)
    built_at = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="false when filters left fewer than `limit`")
    results = ResultSerializer(many=True)


def render(ranked: selectors.RankedList, *, public: bool) -> Response:
    body = {
        "source": ranked.source,
        "fallback": ranked.fallback,
        "version": ranked.version,
        "built_at": ranked.built_at,
        "count": len(ranked.results),
        "complete": ranked.complete,
        "results": [
            {"item": r.card, "score": r.score, "source": r.source, "because": r.because}
            for r in ranked.results
        ],
    }
    response = Response(body)
    response["Cache-Control"] = "public, max-age=60" if public else "private, no-store"
    return response


class ListApi(APIView):
    """Base of the list endpoints: stateless JWT (no user lookup) and the list throttle."""

    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [AllowAny]
    throttle_scope = "lists"
    query_class = ListQuerySerializer

    def query(self, request: Request) -> ListQuerySerializer:
        query = self.query_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        return query


class UserTopBuysApi(ListApi):
    class QuerySerializer(ListQuerySerializer):
        user_id = serializers.IntegerField(required=False, min_value=1, help_text="staff, service")

    query_class = QuerySerializer

    @extend_schema(parameters=[QuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> Response:
        query = self.query(request)
        user_id = _acting_for(request, query.validated_data.get("user_id"))
        ranked = selectors.top_buys_for_user(
            user_id=user_id, filters=query.filters(), limit=query.validated_data["limit"]
        )
        return render(ranked, public=user_id is None)


def _acting_for(request: Request, asked: int | None) -> int | None:
    """The user a list is for: yourself; another user only for staff and service accounts."""
    own = int(request.user.id) if request.user and request.user.is_authenticated else None
    if asked is None or asked == own:
        return own
    if not acts_for_others(request.user):
        raise PermissionDenied("Only staff and service accounts read other users' lists.")
    return asked


class ItemListApi(ListApi):
    selector = staticmethod(selectors.similar_for_item)

    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request, product_id: int) -> Response:
        query = self.query(request)
        try:
            ranked = type(self).selector(
                item_id=product_id, filters=query.filters(), limit=query.validated_data["limit"]
            )
        except selectors.UnknownItem as exc:
            raise NotFound(f"No active item {product_id}.") from exc
        return render(ranked, public=True)


class ItemBoughtTogetherApi(ItemListApi):
    selector = staticmethod(selectors.bought_together_for_item)


class ItemSimilarApi(ItemListApi):
    selector = staticmethod(selectors.similar_for_item)


class TrendingApi(ListApi):
    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> Response:
        query = self.query(request)
        ranked = selectors.trending(filters=query.filters(), limit=query.validated_data["limit"])
        return render(ranked, public=True)


class UserDeckApi(ListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> Response:
        query = self.query(request)
        ranked = selectors.deck_for_user(
            user_id=int(request.user.id),
            filters=query.filters(),
            limit=query.validated_data["limit"],
        )
        return render(ranked, public=False)


class MoreLikeTheseApi(ListApi):
    class QuerySerializer(ListQuerySerializer):
        items = IdListField(help_text="liked item ids, comma-separated")

    query_class = QuerySerializer

    @extend_schema(parameters=[QuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> Response:
        query = self.query(request)
        ranked = selectors.more_like_these(
            item_ids=query.validated_data["items"],
            filters=query.filters(),
            limit=query.validated_data["limit"],
        )
        return render(ranked, public=True)


class PredictApi(ListApi):
    permission_classes = [IsAuthenticated]

    class QuerySerializer(serializers.Serializer):
        item_id = serializers.IntegerField(min_value=1)
        user_id = serializers.IntegerField(required=False, min_value=1, help_text="staff, service")

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        item_id = serializers.IntegerField()
        like_probability = serializers.FloatField(allow_null=True)
        rating = serializers.FloatField(allow_null=True)
        version = serializers.IntegerField(allow_null=True)

    @extend_schema(
        parameters=[QuerySerializer, OpenApiParameter("user_id", int)], responses=OutputSerializer
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id = _acting_for(request, query.validated_data.get("user_id"))
        try:
            prediction = selectors.predict(user_id=user_id, item_id=query.validated_data["item_id"])
        except selectors.NoPrediction as exc:
            raise NotFound(str(exc)) from exc
        response = Response(prediction.__dict__)
        response["Cache-Control"] = "private, no-store"
        return response
