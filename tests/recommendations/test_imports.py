import gzip
import random
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Item
from recommendations.models import Interaction, Order, OrderLine

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "online_retail_small.csv"
BAD_LINES = [
    "536999,85123A,HEART,6,not-a-date,2.55,17850,United Kingdom",
    "536999,,NO CODE,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536999,85123A,HEART,six,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536999,85123A,TOO FEW FIELDS",
]


def run(command: str, path: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command(command, str(path), stdout=out)
    return out.getvalue()


def test_orders_import_counts_orders_lines_cancellations_guests_and_customers():
    output = run("import_orders", FIXTURE)
    # Counted independently from the 255-row fixture (see tests/fixtures/README.md).
    assert Order.objects.count() == 31
    assert OrderLine.objects.count() == 255
    assert Order.objects.filter(is_cancelled=True).count() == 6
    assert OrderLine.objects.filter(order__is_cancelled=True).count() == 17
    assert Order.objects.filter(customer=None).count() == 2
    assert OrderLine.objects.filter(order__customer=None).count() == 40
    assert Item.objects.count() == 199
    assert User.objects.exclude(external_id=None).count() == 20
    assert "cancelled_lines=17" in output
    assert "bad rows: 0" in output


def test_an_imported_line_keeps_its_item_customer_quantity_price_and_time():
    run("import_orders", FIXTURE)
    line = OrderLine.objects.select_related("order__customer", "item").get(
        order__invoice_no="536365", line_no=1
    )
    assert line.item.sku == "85123A"
    assert line.item.title == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert line.quantity == 6
    assert str(line.unit_price) == "2.55"
    assert line.order.customer.external_id == "17850"
    assert line.order.ordered_at.isoformat() == "2010-12-01T08:26:00+00:00"


def test_rerunning_the_same_file_adds_nothing(tmp_path):
    gz = tmp_path / "orders.csv.gz"
    with FIXTURE.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    run("import_orders", gz)
    counts = (Order.objects.count(), OrderLine.objects.count(), Item.objects.count())
    output = run("import_orders", gz)
    assert (Order.objects.count(), OrderLine.objects.count(), Item.objects.count()) == counts
    assert "orders=0, order_lines=0, items=0, customers=0" in output


def test_bad_rows_are_reported_with_their_line_numbers_and_good_rows_kept(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(FIXTURE.read_text() + "\n".join(BAD_LINES) + "\n")
    output = run("import_orders", path)
    assert "bad rows: 4" in output
    assert "line 257: unparsable date 'not-a-date'" in output
    assert "line 258: missing StockCode" in output
    assert "line 259: bad Quantity 'six'" in output
    assert "line 260: wrong number of fields" in output
    assert OrderLine.objects.count() == 255


def test_a_file_with_the_wrong_header_is_refused_clearly(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CommandError, match="header lacks InvoiceNo"):
        run("import_orders", path)


def test_a_truncated_gzip_keeps_what_was_read_and_says_so(tmp_path):
    whole = gzip.compress(FIXTURE.read_bytes())
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    output = run("import_orders", path)
    assert "file ends early" in output
    assert 0 < OrderLine.objects.count() < 255


def test_interactions_import_creates_users_and_items_and_is_idempotent(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user,item,event,timestamp,value\n"
        "u1,sku-1,like,2024-05-01T10:00:00,\n"
        "u1,sku-2,dislike,2024-05-01T10:01:00,\n"
        "u2,sku-1,purchase,2024-05-02 09:00:00,\n"
        "u2,sku-3,view,2024-05-02 09:05:00,4.5\n"
        "u3,sku-1,superlike,2024-05-02 09:05:00,\n"
        "u3,sku-1,like,someday,\n"
    )
    output = run("import_interactions", path)
    assert Interaction.objects.count() == 4
    assert set(User.objects.values_list("external_id", flat=True)) >= {"u1", "u2"}
    assert not User.objects.filter(external_id="u3").exists()
    assert Interaction.objects.get(item__sku="sku-3").value == 4.5
    assert "line 6: unknown event 'superlike'" in output
    assert "line 7: unparsable date 'someday'" in output
    run("import_interactions", path)
    assert Interaction.objects.count() == 4


def test_interactions_import_honours_client_event_ids(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user,item,event,timestamp,event_id\n"
        "u1,sku-1,view,2024-05-01T10:00:00,7c2f4c8e-31a6-4e0c-9b1b-4b0f2f5a9d10\n"
        "u1,sku-1,view,2024-05-01T10:00:00,7c2f4c8e-31a6-4e0c-9b1b-4b0f2f5a9d10\n"
        "u1,sku-1,view,2024-05-01T10:00:00,0d3f5b8e-31a6-4e0c-9b1b-4b0f2f5a9d10\n"
    )
    run("import_interactions", path)
    assert Interaction.objects.count() == 2


SHARED_SAMPLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "online_retail" / "sample.csv"
)


def garbage_lines(count: int, seed: int) -> list[str]:
    """Lines of the kinds a damaged export holds: binary junk, stray quotes, cut rows."""
    rng = random.Random(seed)
    kinds = [
        lambda: "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 80))),
        lambda: '536999,"UNCLOSED QUOTE,6,2010-12-01 08:26:00,2.55,17850,United Kingdom',
        lambda: "\x00\x01\x02" + "x" * rng.randrange(50),
        lambda: ",,,,,,,",
        lambda: "536999,85123A",
    ]
    return [rng.choice(kinds)() for _ in range(count)]


def mix_in_garbage(lines: list[str], share: float, seed: int) -> tuple[list[str], int]:
    header, rows = lines[0], lines[1:]
    rng = random.Random(seed)
    junk = garbage_lines(max(1, round(len(rows) * share)), seed)
    for line in junk:
        rows.insert(rng.randrange(len(rows) + 1), line)
    return [header, *rows], len(junk)


@pytest.mark.parametrize(
    "source",
    [
        FIXTURE,
        pytest.param(
            SHARED_SAMPLE,
            marks=pytest.mark.skipif(
                not SHARED_SAMPLE.exists(),
                reason="../shared/data/online_retail/sample.csv is absent (a user's clone)",
            ),
        ),
    ],
)
def test_one_percent_garbage_lines_are_reported_and_every_good_row_kept(tmp_path, source):
    clean = tmp_path / "clean.csv"
    clean.write_text(source.read_text())
    run("import_orders", clean)
    expected = (Order.objects.count(), OrderLine.objects.count())
    OrderLine.objects.all().delete()
    Order.objects.all().delete()

    mixed, junk = mix_in_garbage(source.read_text().splitlines(), share=0.01, seed=3)
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(mixed) + "\n")
    output = run("import_orders", path)
    assert f"bad rows: {junk}" in output
    assert (Order.objects.count(), OrderLine.objects.count()) == expected
    again = run("import_orders", path)
    assert "orders=0, order_lines=0" in again
    assert OrderLine.objects.count() == expected[1]


def test_a_latin1_file_reports_its_non_utf8_rows_and_keeps_the_rest(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    lines[5] = lines[5].replace("HEART", "CAFÉ") if "HEART" in lines[5] else lines[5] + "É"
    path = tmp_path / "orders.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    output = run("import_orders", path)
    assert "bad rows: 1" in output
    assert "line 6: not valid UTF-8" in output
    assert OrderLine.objects.count() == 254


def test_a_utf16_file_is_refused_clearly(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(FIXTURE.read_text().encode("utf-16"))
    with pytest.raises(CommandError, match="header lacks InvoiceNo"):
        run("import_orders", path)
    assert OrderLine.objects.count() == 0


def test_a_huge_field_is_one_bad_row_and_the_rows_after_it_are_kept(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    lines.insert(10, f"536999,85123A,{'X' * 5_000_000},6,2010-12-01 08:26:00,2.55,17850,UK")
    lines.insert(20, f'536999,85123A,"{"Y" * 50_000}",6,2010-12-01 08:26:00,2.55,17850,UK')
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    output = run("import_orders", path)
    assert "bad rows: 2" in output
    assert "line 11: line too long" in output
    assert "line 21: field too long" in output
    assert OrderLine.objects.count() == 255
