"""Serializer fields that take only what the OpenAPI schema says: a JSON string for a string.

DRF turns a JSON number into a string (`"username": 12` becomes "12") and an integer into a
UUID; the schema promises strings, so the API refuses anything else.
"""

import math
import re

from rest_framework import serializers


class _OnlyStrings:
    def to_internal_value(self, data: object) -> object:
        if not isinstance(data, str):
            raise serializers.ValidationError("Give a string.", code="invalid")
        return super().to_internal_value(data)


class StrictCharField(_OnlyStrings, serializers.CharField):
    pass


class StrictRegexField(_OnlyStrings, serializers.RegexField):
    pass


class StrictEmailField(_OnlyStrings, serializers.EmailField):
    pass


class StrictUUIDField(_OnlyStrings, serializers.UUIDField):
    pass


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not "5", not true)."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Give an integer.", code="invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (not "1.5", not false, not NaN)."""

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("Give a number.", code="invalid")
        if isinstance(data, float) and not math.isfinite(data):
            raise serializers.ValidationError("Give a finite number.", code="invalid")
        return super().to_internal_value(data)


class StrictDecimalField(_OnlyStrings, serializers.DecimalField):
    """A decimal written as a string of digits ("9.99"), as the schema documents decimals:
    no spaces or control characters around it (Python's Decimal would strip them), no
    exponent."""

    plain = re.compile(r"-?[0-9]+(\.[0-9]+)?")

    def to_internal_value(self, data: object) -> object:
        if isinstance(data, str) and not self.plain.fullmatch(data):
            raise serializers.ValidationError("Give a number like 12.50.", code="invalid")
        return super().to_internal_value(data)


class NoUnknownFields:
    """A serializer that refuses keys it does not define (a misspelt `user_id` for `user`
    would otherwise be dropped and the event stored under the sender)."""

    def to_internal_value(self, data: object) -> object:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)
