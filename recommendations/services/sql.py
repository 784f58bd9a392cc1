"""Plain SQL reads into numpy arrays, for jobs that load millions of rows."""

import threading

import numpy as np
import numpy.typing as npt
from django.db import connection, connections


def epoch(column: str) -> str:
    """SQL for a timestamp column as seconds since the epoch (PostgreSQL or SQLite)."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    return f"CAST(strftime('%%s', {column}) AS REAL)"


def fetch_array(
    sql: str, params: list | tuple = (), *, columns: int, parts: int = 1
) -> npt.NDArray[np.float64]:
    """All rows of a numeric query as a (rows x columns) float64 array, in no set order.

    On PostgreSQL the server packs the rows itself: each as `columns` big-endian float8
    (float8send), concatenated per block of 65,536 values of the first column, so a few
    values cross the wire instead of a Python tuple per row. A row with a NULL would vanish
    from the concatenation: the per-block row count catches it and raises. With `parts` > 1
    (outside a transaction) the rows are read in that many queries at once, split by the
    first column modulo `parts`, each on its own thread's connection, so PostgreSQL packs
    them on as many cores. Elsewhere (SQLite) a plain fetch.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return np.array(rows, dtype=np.float64).reshape(-1, columns)
    if parts > 1 and not connection.in_atomic_block:  # a transaction's rows stay in it
        return _fetch_in_parts(sql, params, columns=columns, parts=parts)
    names = ", ".join(f"c{i}" for i in range(columns))
    packed = " || ".join(f"float8send(c{i}::float8)" for i in range(columns))
    statement = (
        f"SELECT count(*), string_agg({packed}, ''::bytea) FROM ({sql}) AS q({names}) "
        "GROUP BY floor(c0::float8 / 65536)"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        blocks = cursor.fetchall()
    if any(len(blob or b"") != count * 8 * columns for count, blob in blocks):
        raise ValueError("a NULL in a query read as numbers")
    data = b"".join(bytes(blob) for _, blob in blocks)
    return np.frombuffer(data, dtype=">f8").astype(np.float64).reshape(-1, columns)


def _fetch_in_parts(
    sql: str, params: list | tuple, *, columns: int, parts: int
) -> npt.NDArray[np.float64]:
    names = ", ".join(f"c{i}" for i in range(columns))
    results: list[npt.NDArray[np.float64] | BaseException] = [np.empty((0, columns))] * parts

    def read(part: int) -> None:
        try:
            results[part] = fetch_array(
                f"SELECT * FROM ({sql}) AS whole({names}) "
                f"WHERE mod(whole.c0::int8, {parts}) = {part}",
                params,
                columns=columns,
            )
        except BaseException as exc:  # handed to the caller below
            results[part] = exc
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=read, args=(part,)) for part in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return np.concatenate(results)
