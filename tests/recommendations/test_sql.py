import numpy as np
import pytest

from recommendations.services.sql import FLOAT, INT, TIME, fetch_array

VALUES = "SELECT * FROM (VALUES (1, -2.5, 3), (70000, 0.125, -4), (2, 1e10, 5)) AS v(a, b, c)"


@pytest.mark.django_db
def test_numbers_come_back_exactly_whatever_their_type_and_block():
    got = fetch_array(VALUES + " WHERE c > %s", [-10], types=(INT, FLOAT, INT))
    expected = [[1, -2.5, 3], [2, 1e10, 5], [70000, 0.125, -4]]
    assert sorted(got.tolist()) == expected


@pytest.mark.django_db
def test_times_come_back_as_unix_seconds_with_their_fraction():
    got = fetch_array(
        "SELECT 7, TIMESTAMPTZ '2011-12-09 12:50:00.25+00' "
        "UNION ALL SELECT 8, TIMESTAMPTZ '1999-12-31 23:59:59+01'",
        types=(INT, TIME),
    )
    assert sorted(got.tolist()) == [[7, 1323435000.25], [8, 946681199.0]]


@pytest.mark.django_db
def test_a_null_is_an_error_not_a_lost_row():
    with pytest.raises(ValueError, match="NULL"):
        fetch_array("SELECT * FROM (VALUES (1, NULL::int), (2, 3)) AS v(a, b)", types=(INT, INT))


@pytest.mark.django_db
def test_an_empty_result_is_an_empty_array():
    assert fetch_array(VALUES + " WHERE c > 100", types=(INT, FLOAT, INT)).shape == (0, 3)


@pytest.mark.django_db(transaction=True)
def test_reading_in_parallel_parts_gives_the_same_rows():
    series = "SELECT i, i * 0.5 FROM generate_series(1, 5000) AS s(i)"
    one = fetch_array(series, types=(INT, FLOAT))
    two = fetch_array(series, types=(INT, FLOAT), parts=2)
    assert np.array_equal(np.sort(one, axis=0), np.sort(two, axis=0))
    assert len(two) == 5000
