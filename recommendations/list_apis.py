"""Recommendation lists over HTTP: Redis only (stateless JWT, no SQL, no model)."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import orjson
from django.http import HttpRequest, HttpResponse, QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import (
    AuthenticationFailed,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.fields import empty
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import CachedStatelessJWTAuthentication
from accounts.permissions import acts_for_others
from catalog.models import Category, Item
from config.fields import StrictDecimalField
from config.query import reject_repeated
from config.renderers import OrjsonRenderer
from recommendations import selectors, store
from recommendations.services import experiments
from recommendations.throttling import ListRateThrottle, rate_window

MAX_LIMIT = 100
INTEGER = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?[0-9]{1,8}(\.[0-9]{1,2})?")
MAX_IDS = 100
SLUG_LENGTH = Category._meta.get_field("slug").max_length
IDS = re.compile(rf"[1-9][0-9]{{0,8}}(,[1-9][0-9]{{0,8}}){{0,{MAX_IDS - 1}}}")


@extend_schema_field({"type": "string", "pattern": f"^{IDS.pattern}$", "example": "3,8,12"})
class IdListField(serializers.CharField):
    """Comma-separated positive integer ids, e.g. `items=3,8,12`."""

    def to_internal_value(self, data: object) -> list[int]:
        text = super().to_internal_value(data)
        if not IDS.fullmatch(text):
            raise serializers.ValidationError(
                f"Give 1 to {MAX_IDS} positive ids, comma-separated, no spaces."
            )
        return [int(part) for part in text.split(",")]


@extend_schema_field({"type": "string", "pattern": f"^({IDS.pattern})?$", "example": "3,8,12"})
class OptionalIdListField(IdListField):
    """As IdListField; empty means none."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_blank=True, **kwargs)


@extend_schema_field({"type": "string", "pattern": r"^[-a-zA-Z0-9_]*$", "maxLength": SLUG_LENGTH})
class CategoryField(serializers.SlugField):
    """A category slug; empty means any."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_blank=True, max_length=SLUG_LENGTH, **kwargs)


class QueryIntegerField(serializers.IntegerField):
    """An integer written as plain digits (DRF would take "5.0")."""

    def to_internal_value(self, data: object) -> int:
        if not (isinstance(data, str) and INTEGER.fullmatch(data)):
            raise serializers.ValidationError("Give a whole number.", code="invalid")
        return super().to_internal_value(data)


@extend_schema_field(  # empty means no bound
    {
        "type": "string",
        "format": "decimal",
        "pattern": f"^({DECIMAL.pattern})?$",
        "example": "19.99",
    }
)
class QueryDecimalField(StrictDecimalField):
    """A price written as plain digits, at most 8 before the point and 2 after; the schema
    states the same pattern."""

    plain = DECIMAL

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_digits=10, decimal_places=2, **kwargs)


class ListQuerySerializer(serializers.Serializer):
    """The list query: the schema is generated from it and every request is parsed by its
    fields (see ListQuery.parse); the two cannot disagree."""

    limit = QueryIntegerField(required=False, default=20, min_value=1, max_value=MAX_LIMIT)
    exclude = OptionalIdListField(required=False, help_text="ids the client shows")
    category = CategoryField(required=False)
    min_price = QueryDecimalField(required=False)
    max_price = QueryDecimalField(required=False)
    size = serializers.CharField(required=False, allow_blank=True, max_length=20)
    brand = serializers.CharField(
        required=False, allow_blank=True, max_length=Item._meta.get_field("brand").max_length
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


class ExperimentSerializer(serializers.Serializer):
    name = serializers.CharField()
    variant = serializers.CharField()


class ListOutputSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="which list answered")
    fallback = serializers.BooleanField(help_text="true when the asked-for list was missing")
    version = serializers.IntegerField(allow_null=True)
    built_at = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="false when filters left fewer than `limit`")
    experiment = ExperimentSerializer(
        allow_null=True, help_text="the A/B experiment and variant that chose this list"
    )
    results = ResultSerializer(many=True)


def render(ranked: selectors.RankedList, *, public: bool) -> HttpResponse:
    """The answer as ListOutputSerializer documents it, encoded by orjson straight into the
    response (the cards go in as the JSON they were stored as)."""
    body = {
        "source": ranked.source,
        "fallback": ranked.fallback,
        "version": ranked.version,
        "built_at": ranked.built_at,
        "count": len(ranked.results),
        "complete": ranked.complete,
        "experiment": {"name": ranked.experiment, "variant": ranked.variant}
        if ranked.experiment
        else None,
        "results": [
            {"item": r.card, "score": r.score, "source": r.source, "because": r.because}
            for r in ranked.results
        ],
    }
    response = HttpResponse(orjson.dumps(body), content_type="application/json")
    response["Cache-Control"] = "public, max-age=60" if public else "private, no-store"
    return response


_JSON = OrjsonRenderer()
_AUTHENTICATORS = (CachedStatelessJWTAuthentication(),)
_NEGOTIATOR = DefaultContentNegotiation()


@cache
def _allowed(view: type[APIView]) -> str:
    """The Allow header of a view class (DRF works it out again on every request)."""
    return ", ".join(view().allowed_methods)


@dataclass(frozen=True)
class ListQuery:
    """A list query parsed by the fields of its serializer (built once per serializer class:
    building a serializer per request cost about as much as the whole Redis read)."""

    validated_data: dict
    filters: selectors.Filters

    @classmethod
    def parse(
        cls, params: QueryDict, serializer: type[serializers.Serializer] = ListQuerySerializer
    ) -> "ListQuery":
        if not params:
            return _unfiltered(serializer)
        return cls._parse(params, serializer)

    @classmethod
    def _parse(cls, params: QueryDict, serializer: type[serializers.Serializer]) -> "ListQuery":
        data, errors = {}, {}
        for name, field in _fields(serializer).items():
            raw = params.get(name)
            if raw is None or (raw == "" and not isinstance(field, serializers.CharField)):
                if field.required:
                    errors[name] = ["This field is required."]
                data[name] = field.get_default() if field.default is not empty else None
                continue
            try:
                data[name] = field.run_validation(raw)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if errors:
            raise ValidationError(errors)
        filters = selectors.Filters(
            category=data["category"] or None,
            min_price=data["min_price"],
            max_price=data["max_price"],
            size=data["size"] or None,
            brand=data["brand"] or None,
            exclude=frozenset(data["exclude"] or ()),
        )
        return cls(data, filters)


@cache
def _fields(serializer: type[serializers.Serializer]) -> dict[str, serializers.Field]:
    return dict(serializer().fields)


@cache
def _unfiltered(serializer: type[serializers.Serializer]) -> ListQuery:
    """The query of a request with no parameters (most list reads): the same every time."""
    return ListQuery._parse(QueryDict(""), serializer)


class ListApi(APIView):
    """Base of the list endpoints: stateless JWT (no user lookup); each read counts the
    request on its client's rate window in the same round trip (recommendations/throttling)."""

    authentication_classes = [CachedStatelessJWTAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [OrjsonRenderer]

    @classmethod
    def as_view(cls, **initkwargs: object) -> Callable[..., HttpResponse]:
        """The view, marked for config.middleware.StatelessViewMiddleware: a list read uses
        no cookie, session, CSRF token or Django user, so it skips those layers."""
        view = super().as_view(**initkwargs)
        view.stateless = True
        return view

    def initialize_request(self, request: HttpRequest, *args: object, **kwargs: object) -> Request:
        """The request with the one stateless authenticator and no parsers: a list read has
        no body, and building parser, negotiator and context objects per request cost a
        tenth of the read (bench/load.py)."""
        return Request(request, authenticators=_AUTHENTICATORS, negotiator=_NEGOTIATOR)

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        """DRF's checks less what a list read never uses (format suffixes, versioning): JSON
        is all these endpoints speak, then the token, the permissions and the throttles of
        the endpoints that count their hits on their own."""
        self.format_kwarg = None
        request.accepted_renderer, request.accepted_media_type = _JSON, _JSON.media_type
        reject_repeated(request.query_params)
        self.perform_authentication(request)
        self.check_permissions(request)
        self.check_throttles(request)

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[OrjsonRenderer, str]:
        """JSON is all these endpoints speak: no negotiation per request."""
        return _JSON, _JSON.media_type

    @property
    def default_response_headers(self) -> dict[str, str]:
        return {"Allow": _allowed(type(self))}

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, store.AccountClosed):  # found by the read or the rate count
            exc = AuthenticationFailed("This account no longer exists.", "account_closed")
        return super().handle_exception(exc)

    query_serializer: type[serializers.Serializer] = ListQuerySerializer

    def query(self, request: Request) -> ListQuery:
        return ListQuery.parse(request.query_params, self.query_serializer)


CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CLIENT_HEADER = "HTTP_X_CLIENT_ID"


def reader(request: Request) -> str | None:
    """Who an experiment assigns: the signed-in user, else the guest's X-Client-Id (a stable
    id the client makes up and keeps, 8 to 64 letters, digits, - or _); None without one."""
    if request.user and request.user.is_authenticated:
        return experiments.reader_key(user_id=int(request.user.id))
    client_id = request.META.get(CLIENT_HEADER)
    if client_id is None:
        return None
    if not CLIENT_ID.fullmatch(client_id):
        raise ValidationError(
            {"X-Client-Id": ["Give 8 to 64 letters, digits, '-' or '_' (or no header)."]}
        )
    return experiments.reader_key(client_id=client_id)


def within_rate(ranked: selectors.RankedList, hit: store.Hit) -> selectors.RankedList:
    """The list, unless the read's count of this client's requests is over the rate."""
    if ranked.hits > hit.limit:
        raise Throttled(wait=hit.seconds_left())
    return ranked


class UserTopBuysApi(ListApi):
    class QuerySerializer(ListQuerySerializer):
        user_id = QueryIntegerField(required=False, min_value=1, help_text="staff, service")

    query_serializer = QuerySerializer

    @extend_schema(parameters=[QuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> HttpResponse:
        query = self.query(request)
        user_id = _acting_for(request, query.validated_data.get("user_id"))
        hit = rate_window(request)
        ranked = selectors.top_buys_for_user(
            user_id=user_id,
            filters=query.filters,
            limit=query.validated_data["limit"],
            hit=hit,
            reader=experiments.reader_key(user_id=user_id) if user_id else reader(request),
        )
        return render(within_rate(ranked, hit), public=user_id is None)


def _acting_for(request: Request, asked: int | None) -> int | None:
    """The user a list is for: yourself; another user only for staff and service accounts."""
    own = int(request.user.id) if request.user and request.user.is_authenticated else None
    if asked is None or asked == own:
        return own
    if own is None:
        raise NotAuthenticated("Log in as a staff or service account to read a user's list.")
    if not acts_for_others(request.user):
        raise PermissionDenied("Only staff and service accounts read other users' lists.")
    return asked


class ItemListApi(ListApi):
    selector = staticmethod(selectors.similar_for_item)

    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request, product_id: int) -> HttpResponse:
        query = self.query(request)
        hit = rate_window(request)
        try:
            ranked = type(self).selector(
                item_id=product_id,
                filters=query.filters,
                limit=query.validated_data["limit"],
                hit=hit,
                reader=reader(request),
            )
        except selectors.UnknownItem as exc:
            raise NotFound(f"No active item {product_id}.") from exc
        return render(within_rate(ranked, hit), public=True)


class ItemBoughtTogetherApi(ItemListApi):
    selector = staticmethod(selectors.bought_together_for_item)


class ItemSimilarApi(ItemListApi):
    selector = staticmethod(selectors.similar_for_item)


class TrendingApi(ListApi):
    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> HttpResponse:
        query = self.query(request)
        hit = rate_window(request)
        ranked = selectors.trending(
            filters=query.filters,
            limit=query.validated_data["limit"],
            hit=hit,
            reader=reader(request),
        )
        return render(within_rate(ranked, hit), public=True)


class UserDeckApi(ListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[ListQuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> HttpResponse:
        query = self.query(request)
        hit = rate_window(request)
        ranked = selectors.deck_for_user(
            user_id=int(request.user.id),
            filters=query.filters,
            limit=query.validated_data["limit"],
            hit=hit,
            reader=reader(request),
        )
        return render(within_rate(ranked, hit), public=False)


class MoreLikeTheseApi(ListApi):
    class QuerySerializer(ListQuerySerializer):
        items = IdListField(help_text="liked item ids, comma-separated")

    query_serializer = QuerySerializer
    throttle_classes = [ListRateThrottle]  # several lists: the hit is counted on its own

    @extend_schema(parameters=[QuerySerializer], responses=ListOutputSerializer)
    def get(self, request: Request) -> HttpResponse:
        query = self.query(request)
        ranked = selectors.more_like_these(
            item_ids=query.validated_data["items"],
            filters=query.filters,
            limit=query.validated_data["limit"],
        )
        return render(ranked, public=True)


class PredictApi(ListApi):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ListRateThrottle]

    class QuerySerializer(serializers.Serializer):
        item_id = serializers.IntegerField(min_value=1)
        user_id = serializers.IntegerField(required=False, min_value=1, help_text="staff, service")

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Prediction"

        user_id = serializers.IntegerField()
        item_id = serializers.IntegerField()
        like_probability = serializers.FloatField(allow_null=True)
        rating = serializers.FloatField(allow_null=True)
        version = serializers.IntegerField(allow_null=True)
        source = serializers.ChoiceField(
            choices=["personal", "item_prior"],
            help_text="personal: the user's own vector; item_prior: they have not swiped yet",
        )

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
