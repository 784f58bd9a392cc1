"""Plain SQL reads into numpy arrays, for jobs that load millions of rows."""

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import psycopg
from django.db import connection, connections

# Column types of fetch_array. Every value comes back as float64; a TIME as Unix seconds.
INT, FLOAT, TIME = "int8", "float8", "timestamptz"
# PostgreSQL's binary form of each type: big-endian, eight bytes.
_SEND = {INT: "int8send", FLOAT: "float8send", TIME: "timestamptz_send"}
_WIRE = {INT: ">i8", FLOAT: ">f8", TIME: ">i8"}  # a timestamp: microseconds since 2000
_Y2K = 946_684_800  # 2000-01-01 in Unix seconds


def _columns(count: int) -> str:
    return ", ".join(f"c{i}" for i in range(count))


def fetch_array(
    sql: str, params: list | tuple = (), *, types: Sequence[str], parts: int = 1
) -> npt.NDArray[np.float64]:
    """All rows of a query as a (rows x columns) float64 array, in no set order; `types`
    names each column's type (INT, FLOAT or TIME; a TIME comes back as Unix seconds).

    On PostgreSQL the server packs the rows itself: each column in its binary form,
    concatenated per block of 65,536 values of the first column and read in binary, so a few
    values cross the wire instead of a Python tuple per row. A row with a NULL would vanish
    from the concatenation: the per-block row count catches it and raises. With `parts` > 1
    (outside a transaction) the rows are read in that many queries at once, split by the
    first column modulo `parts`, each on its own thread's connection, so PostgreSQL packs
    them on as many cores. Elsewhere (SQLite) a plain fetch.
    """
    if connection.vendor != "postgresql":
        return _fetch_plain(sql, params, types=types)
    if parts > 1 and not connection.in_atomic_block:  # a transaction's rows stay in it
        return _fetch_in_parts(sql, params, types=types, parts=parts)
    return _fetch_packed(sql, params, types=types)


def _fetch_packed(
    sql: str, params: list | tuple, *, types: Sequence[str], where: str = ""
) -> npt.NDArray[np.float64]:
    packed = " || ".join(f"{_SEND[t]}(c{i}::{t})" for i, t in enumerate(types))
    statement = (
        f"WITH q({_columns(len(types))}) AS ({sql}) "
        f"SELECT count(*), string_agg({packed}, ''::bytea) FROM q {where} "
        "GROUP BY floor(c0::float8 / 65536)"
    )
    connection.ensure_connection()
    # Django's cursors bind on the client, which returns bytea as hex text: a plain
    # psycopg cursor on the same connection gets the blocks as raw bytes instead.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, binary=True)
        blocks = cursor.fetchall()
    wire = np.dtype([(f"c{i}", _WIRE[t]) for i, t in enumerate(types)])
    if any(len(blob or b"") != count * wire.itemsize for count, blob in blocks):
        raise ValueError("a NULL in a query read as numbers")
    rows = np.frombuffer(b"".join(bytes(blob) for _, blob in blocks), dtype=wire)
    out = np.empty((len(rows), len(types)), dtype=np.float64)
    for i, kind in enumerate(types):
        out[:, i] = rows[f"c{i}"]
        if kind == TIME:
            out[:, i] = out[:, i] / 1e6 + _Y2K
    return out


def _fetch_plain(sql: str, params: list | tuple, *, types: Sequence[str]) -> npt.NDArray:
    """SQLite: times are stored as ISO text in UTC; julianday reads them."""
    values = ", ".join(
        f"(julianday(c{i}) - 2440587.5) * 86400.0" if t == TIME else f"c{i}"
        for i, t in enumerate(types)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH q({_columns(len(types))}) AS ({sql}) SELECT {values} FROM q", params)
        rows = cursor.fetchall()
    array = np.array(rows, dtype=np.float64).reshape(-1, len(types))
    if np.isnan(array).any():
        raise ValueError("a NULL in a query read as numbers")
    return array


def _fetch_in_parts(
    sql: str, params: list | tuple, *, types: Sequence[str], parts: int
) -> npt.NDArray[np.float64]:
    results: list[npt.NDArray[np.float64] | BaseException] = [np.empty((0, len(types)))] * parts

    def read(part: int) -> None:
        try:
            results[part] = _fetch_packed(
                sql, params, types=types, where=f"WHERE mod(c0::int8, {parts}) = {part}"
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
