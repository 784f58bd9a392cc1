"""OpenAPI: every operation documents the error answers it can give (see config.exceptions)."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    class Meta:
        ref_name = "Error"

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.JSONField(required=False, help_text="bad input: what is wrong where")


class PicksAutoSchema(AutoSchema):
    """drf-spectacular's schema plus the error codes any operation may answer: bad input,
    not logged in, not allowed, not found, a lost uniqueness race (writes), over the rate,
    and Redis or the database unreachable."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["400", "401", "403", "404", "429", "503"]
        if self.method in {"POST", "PUT", "PATCH"}:
            codes += ["409", "415"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code)
        return responses
