from decimal import Decimal

from django.db.models import Q, QuerySet

from catalog.models import Category, Item


def item_list(
    *,
    category: str | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    size: str | None = None,
    brand: str | None = None,
    search: str | None = None,
    include_inactive: bool = False,
) -> QuerySet[Item]:
    """Items matching every given filter, oldest first."""
    items = Item.objects.select_related("category")
    if not include_inactive:
        items = items.filter(is_active=True)
    if category:
        by_key = Q(category_id=int(category)) if category.isdigit() else Q(category__slug=category)
        items = items.filter(by_key)
    if min_price is not None:
        items = items.filter(price__gte=min_price)
    if max_price is not None:
        items = items.filter(price__lte=max_price)
    if size:
        # A substring of the JSON text works on PostgreSQL and SQLite alike;
        # JSONField `contains` does not exist on SQLite.
        items = items.filter(sizes__icontains=f'"{size}"')
    if brand:
        items = items.filter(brand__iexact=brand)
    if search:
        items = items.filter(Q(title__icontains=search) | Q(description__icontains=search))
    return items


def category_list() -> QuerySet[Category]:
    """Every category by name."""
    return Category.objects.all()
