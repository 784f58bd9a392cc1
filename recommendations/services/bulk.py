"""Fast bulk inserts: PostgreSQL COPY where available, Django's bulk_create elsewhere."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model


def insert_rows(model: type[Model], columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert plain rows (values in `columns` order) into the model's table."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    model.objects.bulk_create(
        (model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=5000
    )
