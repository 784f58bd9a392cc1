"""Plain SQL reads into numpy arrays, for jobs that load millions of rows."""

import numpy as np
import numpy.typing as npt
from django.db import connection


def epoch(column: str) -> str:
    """SQL for a timestamp column as seconds since the epoch (PostgreSQL or SQLite)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    return f"CAST(strftime('%%s', {column}) AS REAL)"


def fetch_array(sql: str, params: list | tuple = (), *, columns: int) -> npt.NDArray[np.float64]:
    """All rows of a numeric query as a (rows x columns) float64 array."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return np.array(rows, dtype=np.float64).reshape(-1, columns)
