from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import UsernameTaken, register_user
from config.fields import NoUnknownFields, StrictCharField, StrictEmailField, StrictRegexField


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(help_text="an e-mail address, or empty")
    external_id = serializers.CharField(allow_null=True)
    is_staff = serializers.BooleanField()
    is_service = serializers.BooleanField()


class UserRegisterApi(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class InputSerializer(NoUnknownFields, serializers.Serializer):
        class Meta:
            ref_name = "Registration"

        username = StrictRegexField(r"^[\w.@+-]{3,150}$")
        password = StrictCharField(write_only=True, max_length=128)
        email = StrictEmailField(required=False, default="", max_length=254)

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = register_user(**serializer.validated_data)
        except UsernameTaken as exc:
            raise ValidationError({"username": ["This username is taken."]}) from exc
        except DjangoValidationError as exc:
            raise ValidationError({"password": list(exc.messages)}) from exc
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class UserMeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)
