"""Query-string rules shared by the read endpoints."""

from django.http import QueryDict
from rest_framework.exceptions import ValidationError


def reject_repeated(params: QueryDict) -> None:
    """Every query parameter of this API takes one value: `?page=1&page=2` is a 400, not a
    silent pick of the last one."""
    repeated = [name for name, values in params.lists() if len(values) > 1]
    if repeated:
        raise ValidationError({name: ["Give this parameter once."] for name in repeated})


def reject_blank(params: QueryDict, names: tuple[str, ...]) -> None:
    """`?page=` is not a page number: integer parameters given empty are a 400 (DRF would
    quietly treat them as absent)."""
    blank = [name for name in names if params.get(name) == ""]
    if blank:
        raise ValidationError({name: ["Give a whole number."] for name in blank})
