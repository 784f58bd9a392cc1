"""Query-string rules shared by the read endpoints."""

from django.http import QueryDict
from rest_framework.exceptions import ValidationError


def reject_repeated(params: QueryDict) -> None:
    """Every query parameter of this API takes one value: `?page=1&page=2` is a 400, not a
    silent pick of the last one."""
    repeated = [name for name, values in params.lists() if len(values) > 1]
    if repeated:
        raise ValidationError({name: ["Give this parameter once."] for name in repeated})
