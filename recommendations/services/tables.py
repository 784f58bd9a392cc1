"""Table names for the jobs' raw SQL, from the models (never spelled by hand)."""

from recommendations.models import (
    Interaction,
    Order,
    OrderLine,
    PendingInteraction,
    PendingOrderLine,
    PendingRefresh,
    UserProductInteraction,
)

EVENTS = Interaction._meta.db_table
ORDERS = Order._meta.db_table
LINES = OrderLine._meta.db_table
SCORES = UserProductInteraction._meta.db_table
QUEUED_EVENTS = PendingInteraction._meta.db_table
QUEUED_LINES = PendingOrderLine._meta.db_table
QUEUED_REFRESHES = PendingRefresh._meta.db_table
