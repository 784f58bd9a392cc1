"""Load the UCI Online Retail purchases as arrays, cleaned the way the quality benchmark wants."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from common import SHARED_DATA

DEFAULT_PATH = SHARED_DATA / "online_retail" / "online_retail.csv.gz"
PURCHASE_WEIGHT = 4.0  # settings.PICKS_EVENT_WEIGHTS["purchase"]: one order line's score


@dataclass(frozen=True)
class Purchases:
    rows: npt.NDArray[np.int64]  # user index
    cols: npt.NDArray[np.int64]  # item index
    values: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]  # seconds since the epoch
    invoices: npt.NDArray[np.int64]
    shape: tuple[int, int]


def load(path: Path = DEFAULT_PATH, *, customers_only: bool = True) -> Purchases:
    """Order lines without cancellations, with quantity and price > 0 (and a customer)."""
    if not path.is_file():
        raise SystemExit(f"no data at {path}: pass the Online Retail CSV path")
    df = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str}, parse_dates=["InvoiceDate"])
    keep = ~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0) & (df["UnitPrice"] > 0)
    if customers_only:
        keep &= df["CustomerID"].notna()
    df = df[keep]
    rows, users = pd.factorize(df["CustomerID"].fillna(-1))
    cols, items = pd.factorize(df["StockCode"])
    invoices, _ = pd.factorize(df["InvoiceNo"])
    return Purchases(
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int64),
        values=np.full(len(df), PURCHASE_WEIGHT, dtype=np.float32),
        times=(df["InvoiceDate"] - pd.Timestamp(0)).dt.total_seconds().to_numpy(),
        invoices=invoices.astype(np.int64),
        shape=(len(users), len(items)),
    )


def epoch(day: str) -> float:
    return pd.Timestamp(day).timestamp()
