"""Bulk imports: orders in the UCI Online Retail layout and generic interaction files.

Rows are read in chunks; each chunk creates the items and customers it names, then inserts
with ON CONFLICT DO NOTHING, so a rerun of the same file adds nothing. Bad rows are counted
and reported with their line number; good rows are kept.
"""

import csv
import gzip
import io
import math
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from accounts.models import User
from catalog.models import Item
from recommendations.models import Interaction, Order, OrderLine
from recommendations.services.clock import implausible
from recommendations.services.interactions import EventIn, customer_username, log_interactions
from recommendations.services.progress import log_step, track

ORDER_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
INTERACTION_COLUMNS = ("user", "item", "event", "timestamp")
MAX_FIELD_CHARS = 10_000
# The ranges the API takes too: a row beyond them is reported, never sent to the database
# (one out-of-range value would roll back its whole chunk).
MAX_QUANTITY = 100_000
MAX_VALUE = 1e6
REPORTED_BAD_ROWS = 50
INTERACTION_NAMESPACE = uuid.UUID("6f1c3a52-1f5e-4c59-9a55-2f8f1c0e7d11")


class ImportFileError(Exception):
    """The file cannot be read as the expected layout at all."""


@dataclass
class ImportReport:
    rows: int = 0
    bad_rows: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    truncated: str = ""

    def bad(self, line: int, reason: str) -> None:
        self.bad_rows += 1
        if len(self.bad_examples) < REPORTED_BAD_ROWS:
            self.bad_examples.append((line, reason))


class BadRow(ValueError):
    """One row that cannot be imported; the message says why."""


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    stream = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
    # Undecodable bytes become U+FFFD so that the row is reported instead of the file dying;
    # a byte-order mark (Excel's "CSV UTF-8") is dropped.
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")


def _bounded_lines(text: io.TextIOBase, *, limit: int) -> Iterator[str | None]:
    """The file's lines, each read with at most `limit` characters in memory: a longer line
    comes out as None (the rest of it is read and dropped in pieces)."""
    while True:
        line = text.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = text.readline(limit)
        yield None


def _parse_line(line: str) -> list[str]:
    """One CSV record from one line. Records never span lines here, so a stray quote in a
    garbage line cannot swallow the good lines after it (it is an error of that line)."""
    return next(csv.reader((line,), strict=True))


def _rows(path: Path, columns: tuple[str, ...], report: ImportReport) -> Iterator[tuple[int, dict]]:
    """(line number, row) pairs; bad lines are reported and skipped, a truncated or corrupt
    file ends the stream and is reported."""
    csv.field_size_limit(MAX_FIELD_CHARS * 10)
    with _open_text(path) as text:
        try:
            first = text.readline(MAX_FIELD_CHARS * 10)
            header = _parse_line(first) if first.strip() else []
        except (EOFError, OSError, zlib.error, csv.Error) as exc:
            raise ImportFileError(f"{path.name}: cannot read the header ({exc})") from exc
        missing = [c for c in columns if c not in header]
        if missing:
            found = ", ".join(header)[:200]
            raise ImportFileError(
                f"{path.name}: header lacks {', '.join(missing)} (found: {found})"
            )
        line = 1
        try:
            for line, raw in enumerate(
                _bounded_lines(text, limit=MAX_FIELD_CHARS * len(header)), start=2
            ):
                if raw is None:
                    report.bad(line, "line too long")
                    continue
                if not raw.strip():
                    continue
                try:
                    values = _parse_line(raw)
                except csv.Error as exc:
                    report.bad(line, f"unreadable CSV ({exc})")
                    continue
                if len(values) != len(header):
                    report.bad(line, "wrong number of fields")
                    continue
                if any(len(v) > MAX_FIELD_CHARS for v in values):
                    report.bad(line, "field too long")
                    continue
                if any("\ufffd" in v for v in values):
                    report.bad(line, "not valid UTF-8")
                    continue
                yield line, dict(zip(header, values, strict=True))
        except (EOFError, OSError, zlib.error) as exc:
            report.truncated = f"file ends early after line {line}: {exc}"


_date_cache: dict[str, datetime] = {}


def _parse_datetime(text: str) -> datetime:
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    text = text.strip()
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%m/%d/%Y %H:%M")):
        try:
            value = parse(text)
            break
        except ValueError:
            continue
    else:
        raise BadRow(f"unparsable date {text!r}")
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if len(_date_cache) < 1_000_000:
        _date_cache[text] = value
    return value


def _plausible_datetime(text: str, *, column: str) -> datetime:
    """A parsed time that can be stored (see clock.implausible)."""
    value = _parse_datetime(text)
    problem = implausible(value)
    if problem:
        raise BadRow(f"{column} {text.strip()!r} {problem}")
    return value


def _external_id(text: str) -> str:
    text = text.strip()
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class _OrderRow:
    invoice_no: str
    sku: str
    description: str
    quantity: int
    ordered_at: datetime
    unit_price: Decimal
    customer: str
    country: str


def _parse_order_row(row: dict) -> _OrderRow:
    invoice_no = row["InvoiceNo"].strip()
    sku = row["StockCode"].strip()
    if not invoice_no:
        raise BadRow("missing InvoiceNo")
    if not sku:
        raise BadRow("missing StockCode")
    if len(invoice_no) > 32 or len(sku) > 64:
        raise BadRow("InvoiceNo or StockCode too long")
    try:
        quantity = int(row["Quantity"])
    except ValueError as exc:
        raise BadRow(f"bad Quantity {row['Quantity']!r}") from exc
    if abs(quantity) > MAX_QUANTITY:
        raise BadRow(f"Quantity {quantity} beyond +-{MAX_QUANTITY}")
    try:
        unit_price = Decimal(row["UnitPrice"].strip()).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise BadRow(f"bad UnitPrice {row['UnitPrice']!r}") from exc
    if not unit_price.is_finite() or abs(unit_price) >= Decimal("1e8"):
        raise BadRow(f"bad UnitPrice {row['UnitPrice']!r}")
    return _OrderRow(
        invoice_no=invoice_no,
        sku=sku,
        description=row["Description"].strip()[:300],
        quantity=quantity,
        ordered_at=_plausible_datetime(row["InvoiceDate"], column="InvoiceDate"),
        unit_price=unit_price,
        customer=_external_id(row["CustomerID"])[:64],
        country=row["Country"].strip()[:64],
    )


class _Resolver:
    """Maps skus and customer ids to database ids, creating the missing ones in bulk."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}
        self.users: dict[str, int] = {}

    def item_ids(self, titles: dict[str, tuple[str, Decimal]]) -> dict[str, int]:
        new = [sku for sku in titles if sku not in self.items]
        if new:
            self.items.update(Item.objects.filter(sku__in=new).values_list("sku", "pk"))
            missing = [sku for sku in new if sku not in self.items]
            Item.objects.bulk_create(
                [
                    Item(sku=sku, title=titles[sku][0] or sku, price=max(titles[sku][1], 0))
                    for sku in missing
                ],
                ignore_conflicts=True,
                batch_size=2000,
            )
            self.items.update(Item.objects.filter(sku__in=missing).values_list("sku", "pk"))
        return self.items

    def user_ids(self, external_ids: set[str]) -> dict[str, int]:
        new = [e for e in external_ids if e and e not in self.users]
        if new:
            self.users.update(
                User.objects.filter(external_id__in=new).values_list("external_id", "pk")
            )
            missing = [e for e in new if e not in self.users]
            User.objects.bulk_create(
                [User(username=customer_username(e), external_id=e, password="!") for e in missing],
                ignore_conflicts=True,
                batch_size=2000,
            )
            self.users.update(
                User.objects.filter(external_id__in=missing).values_list("external_id", "pk")
            )
        return self.users


class _OrderWriter:
    def __init__(self) -> None:
        self.resolver = _Resolver()
        self.orders: dict[str, int] = {}
        self.line_numbers: dict[str, int] = {}

    @transaction.atomic
    def write(self, rows: list[_OrderRow]) -> None:
        titles = {}
        for r in rows:
            titles.setdefault(r.sku, (r.description, r.unit_price))
        items = self.resolver.item_ids(titles)
        users = self.resolver.user_ids({r.customer for r in rows})
        heads = {}
        for r in rows:
            if r.invoice_no not in self.orders and r.invoice_no not in heads:
                heads[r.invoice_no] = Order(
                    invoice_no=r.invoice_no,
                    customer_id=users.get(r.customer),
                    country=r.country,
                    ordered_at=r.ordered_at,
                    is_cancelled=r.invoice_no.startswith("C"),
                )
        if heads:
            Order.objects.bulk_create(heads.values(), ignore_conflicts=True, batch_size=5000)
            self.orders.update(
                Order.objects.filter(invoice_no__in=list(heads)).values_list("invoice_no", "pk")
            )
        lines = []
        for r in rows:
            n = self.line_numbers.get(r.invoice_no, 0) + 1
            self.line_numbers[r.invoice_no] = n
            lines.append(
                OrderLine(
                    order_id=self.orders[r.invoice_no],
                    line_no=n,
                    item_id=items[r.sku],
                    quantity=r.quantity,
                    unit_price=r.unit_price,
                )
            )
        OrderLine.objects.bulk_create(lines, ignore_conflicts=True, batch_size=5000)


def _table_counts() -> dict[str, int]:
    return {
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "items": Item.objects.count(),
        "customers": User.objects.exclude(external_id=None).count(),
    }


def import_orders(*, path: Path, chunk_rows: int = 20_000) -> ImportReport:
    """Import a UCI Online Retail CSV (plain or gzip); counts of what was new come back."""
    report = ImportReport()
    before = _table_counts()
    writer = _OrderWriter()
    chunk: list[_OrderRow] = []
    stats = {"cancelled_lines": 0, "guest_lines": 0}
    for line, row in track(_rows(path, ORDER_COLUMNS, report), job="import_orders", unit="rows"):
        report.rows += 1
        try:
            parsed = _parse_order_row(row)
        except BadRow as exc:
            report.bad(line, str(exc))
            continue
        stats["cancelled_lines"] += parsed.invoice_no.startswith("C")
        stats["guest_lines"] += not parsed.customer
        chunk.append(parsed)
        if len(chunk) >= chunk_rows:
            writer.write(chunk)
            log_step("import_orders", "chunk", rows=report.rows, bad=report.bad_rows)
            chunk = []
    if chunk:
        writer.write(chunk)
    after = _table_counts()
    report.created = {name: after[name] - before[name] for name in after}
    report.counts = stats
    log_step("import_orders", "done", rows=report.rows, bad=report.bad_rows, **report.created)
    return report


def _parse_interaction_row(row: dict) -> tuple[str, str, str, datetime, float | None, uuid.UUID]:
    user, item, kind = row["user"].strip(), row["item"].strip(), row["event"].strip().lower()
    if not user or not item:
        raise BadRow("missing user or item")
    if len(user) > 64 or len(item) > 64:
        raise BadRow("user or item id too long")
    if kind not in Interaction.Kind.values:
        raise BadRow(f"unknown event {kind!r}")
    occurred_at = _plausible_datetime(row["timestamp"], column="timestamp")
    raw_value = (row.get("value") or "").strip()
    try:
        value = float(raw_value) if raw_value else None
    except ValueError as exc:
        raise BadRow(f"bad value {raw_value!r}") from exc
    if value is not None and not (math.isfinite(value) and abs(value) <= MAX_VALUE):
        raise BadRow(f"value {raw_value!r} is not a finite number within +-{MAX_VALUE:g}")
    raw_id = (row.get("event_id") or "").strip()
    try:
        # Without an event id the row's content is its identity, so a rerun stores nothing new.
        event_id = (
            uuid.UUID(raw_id)
            if raw_id
            else uuid.uuid5(
                INTERACTION_NAMESPACE, f"{user}|{item}|{kind}|{occurred_at}|{raw_value}"
            )
        )
    except ValueError as exc:
        raise BadRow(f"bad event_id {raw_id!r}") from exc
    return user, item, kind, occurred_at, value, event_id


@transaction.atomic
def _write_interactions(resolver: _Resolver, rows: list[tuple]) -> None:
    items = resolver.item_ids({r[1]: (r[1], Decimal(0)) for r in rows})
    users = resolver.user_ids({r[0] for r in rows})
    log_interactions(
        events=[
            EventIn(users[u], items[i], kind, at, value, event_id)
            for u, i, kind, at, value, event_id in rows
        ]
    )


def import_interactions(*, path: Path, chunk_rows: int = 20_000) -> ImportReport:
    """Import a `user,item,event,timestamp[,value][,event_id]` CSV, users and items by their ids."""
    report = ImportReport()
    before = Interaction.objects.count()
    resolver = _Resolver()
    chunk: list[tuple] = []
    rows = _rows(path, INTERACTION_COLUMNS, report)
    for line, row in track(rows, job="import_interactions", unit="rows"):
        report.rows += 1
        try:
            chunk.append(_parse_interaction_row(row))
        except BadRow as exc:
            report.bad(line, str(exc))
            continue
        if len(chunk) >= chunk_rows:
            _write_interactions(resolver, chunk)
            chunk = []
    if chunk:
        _write_interactions(resolver, chunk)
    report.created = {"interactions": Interaction.objects.count() - before}
    log_step("import_interactions", "done", rows=report.rows, bad=report.bad_rows, **report.created)
    return report
