from collections.abc import Callable
from datetime import datetime

from django.db import connection
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import IsStaffOrService, acts_for_others
from catalog.models import Item
from config.fields import (
    NoUnknownFields,
    StrictCharField,
    StrictDecimalField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
)
from recommendations import store
from recommendations.models import Interaction
from recommendations.services.clock import implausible
from recommendations.services.interactions import (
    EventIn,
    OrderLineIn,
    create_order,
    customer_for_external_id,
    existing_item_ids,
    existing_user_ids,
    log_interactions,
)

MAX_EVENTS_PER_REQUEST = 1000


def _plausible(value: datetime) -> datetime:
    problem = implausible(value)
    if problem:
        raise serializers.ValidationError(f"The time {problem}.")
    return value


def _entry_errors(errors: dict | list) -> list[dict]:
    """DRF's per-entry errors ({index: {field: [messages]}}) as {index, field, message} rows."""
    by_index = errors.items() if isinstance(errors, dict) else enumerate(errors)
    rows = []
    for index, fields in sorted(by_index, key=lambda pair: int(pair[0])):
        if not isinstance(fields, dict):
            rows.extend(
                {"index": None, "field": "non_field_errors", "message": str(m)} for m in fields
            )
            continue
        for field, messages in fields.items():
            rows.extend({"index": index, "field": field, "message": str(m)} for m in messages)
    return rows


def _refused(errors: list[dict]) -> Response:
    body = {"detail": "No event was stored.", "code": "invalid", "errors": errors}
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class EventSerializer(NoUnknownFields, serializers.Serializer):
    event_id = StrictUUIDField(required=False, allow_null=True)
    item = StrictIntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=Interaction.Kind.choices)
    timestamp = serializers.DateTimeField(required=False)
    value = StrictFloatField(required=False, allow_null=True, min_value=-1e6, max_value=1e6)
    user = StrictIntegerField(
        required=False, min_value=1, help_text="another user's id: staff and service accounts only"
    )

    def validate_timestamp(self, value: datetime) -> datetime:
        return _plausible(value)


class InteractionCreateApi(APIView):
    """Log one event or a list of up to 1,000.

    A list with any bad entry is refused whole (nothing stored); the answer lists every bad
    entry with its index and field. An `event_id` sent before is stored once.
    """

    permission_classes = [IsAuthenticated]
    throttle_scope = "events"

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InteractionsStored"

        accepted = serializers.IntegerField(help_text="events stored by this request")
        duplicates = serializers.ListField(
            child=serializers.IntegerField(),
            help_text="indices of events whose event_id this user had sent before (not stored)",
        )

    @extend_schema(
        request=EventSerializer(many=True),
        responses={201: OutputSerializer, 400: OpenApiResponse(description="bad entries")},
    )
    def post(self, request: Request) -> Response:
        payload = request.data if isinstance(request.data, list) else [request.data]
        if not payload or len(payload) > MAX_EVENTS_PER_REQUEST:
            raise ValidationError(
                {"non_field_errors": [f"Send 1 to {MAX_EVENTS_PER_REQUEST} events."]}
            )
        serializer = EventSerializer(data=payload, many=True)
        if not serializer.is_valid():
            return _refused(_entry_errors(serializer.errors))
        entries = serializer.validated_data
        errors = self._reference_errors(request, entries)
        if errors:
            return _refused(errors)
        now = timezone.now()
        events = [
            EventIn(
                user_id=entry.get("user") or request.user.pk,
                item_id=entry["item"],
                kind=entry["kind"],
                occurred_at=entry.get("timestamp") or now,
                value=entry.get("value"),
                event_id=entry.get("event_id"),
            )
            for entry in entries
        ]
        logged = log_interactions(events=events)
        return Response(
            {"accepted": logged.stored, "duplicates": logged.duplicates},
            status=status.HTTP_201_CREATED,
        )

    def _reference_errors(self, request: Request, entries: list[dict]) -> list[dict]:
        others = {e["user"] for e in entries if e.get("user") not in (None, request.user.pk)}
        if others and not acts_for_others(request.user):
            raise PermissionDenied("Only staff and service accounts log events for other users.")
        known_items = existing_item_ids({e["item"] for e in entries})
        known_users = existing_user_ids(others) if others else set()
        errors = []
        for index, entry in enumerate(entries):
            if entry["item"] not in known_items:
                errors.append({"index": index, "field": "item", "message": "Unknown item."})
            if entry.get("user") in others and entry["user"] not in known_users:
                errors.append({"index": index, "field": "user", "message": "Unknown user."})
        return errors


class OrderCreateApi(APIView):
    """Push an order (shop backends). The same invoice sent twice is stored once."""

    permission_classes = [IsStaffOrService]
    throttle_scope = "events"

    class InputSerializer(NoUnknownFields, serializers.Serializer):
        class Meta:
            ref_name = "OrderInput"

        class LineSerializer(NoUnknownFields, serializers.Serializer):
            class Meta:
                ref_name = "OrderLine"

            sku = StrictCharField(max_length=64)
            quantity = StrictIntegerField(min_value=-100000, max_value=100000)
            unit_price = StrictDecimalField(max_digits=10, decimal_places=2, min_value=0)

        invoice_no = StrictCharField(max_length=32)
        customer = StrictIntegerField(required=False, allow_null=True, min_value=1)
        customer_external_id = StrictCharField(max_length=64, required=False)
        country = StrictCharField(max_length=64, required=False, default="")
        ordered_at = serializers.DateTimeField()
        lines = LineSerializer(many=True, allow_empty=False, max_length=1000)

        def validate_ordered_at(self, value: datetime) -> datetime:
            return _plausible(value)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderCreated"

        id = serializers.IntegerField()
        invoice_no = serializers.CharField()
        created = serializers.BooleanField()
        is_cancelled = serializers.BooleanField()

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer, 200: OutputSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        skus = {line["sku"] for line in data["lines"]}
        item_ids = dict(Item.objects.filter(sku__in=skus).values_list("sku", "pk"))
        missing = sorted(skus - item_ids.keys())
        if missing:
            raise ValidationError({"lines": [f"Unknown sku: {', '.join(missing)}"]})
        customer = None
        if data.get("customer"):
            customer = User.objects.filter(pk=data["customer"]).first()
            if customer is None:
                raise ValidationError({"customer": ["Unknown user."]})
        elif data.get("customer_external_id"):
            customer = customer_for_external_id(external_id=data["customer_external_id"])
        result = create_order(
            invoice_no=data["invoice_no"],
            customer=customer,
            ordered_at=data["ordered_at"],
            country=data["country"],
            lines=[
                OrderLineIn(item_ids[line["sku"]], line["quantity"], line["unit_price"])
                for line in data["lines"]
            ],
        )
        body = {
            "id": result.order.pk,
            "invoice_no": result.order.invoice_no,
            "created": result.created,
            "is_cancelled": result.order.is_cancelled,
        }
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class HealthApi(APIView):
    """Database and Redis both answer: 200; otherwise 503 naming the part that failed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Health"

        status = serializers.CharField()
        database = serializers.CharField()
        redis = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer, 503: OutputSerializer})
    def get(self, request: Request) -> Response:
        checks = {"database": self._check(self._database), "redis": self._check(store.ping)}
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "unavailable", **checks}
        return Response(body, status=status.HTTP_200_OK if healthy else 503)

    @staticmethod
    def _database() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    @staticmethod
    def _check(probe: Callable[[], None]) -> str:
        try:
            probe()
        except Exception as exc:  # any failure of a part is what health reports
            return f"error: {type(exc).__name__}"
        return "ok"


class ApiRootApi(APIView):
    """Where to start: the API docs, the schema, the demo page and the list endpoints."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ApiRoot"

        docs = serializers.CharField()
        schema = serializers.CharField()
        demo = serializers.CharField(help_text="a swipe page in the browser")
        health = serializers.CharField()
        recommendations = serializers.DictField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        lists = ("top-buys", "trending", "deck", "more-like-these", "predict")
        return Response(
            {
                "docs": reverse("docs"),
                "schema": reverse("schema"),
                "demo": reverse("demo"),
                "health": reverse("health"),
                "recommendations": {name: reverse(name) for name in lists},
            }
        )
