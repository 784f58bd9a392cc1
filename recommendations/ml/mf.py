"""A PyTorch matrix-factorisation model of swipes: P(like) = sigmoid(u . v + b_u + b_i + b).

Trained with binary cross-entropy on likes (1), dislikes (0) and sampled unseen items (0),
or with MSE on explicit ratings; Adam; early stopping on a validation split; seeded.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt
import torch
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn


@dataclass(frozen=True)
class MfParams:
    factors: int = 32
    epochs: int = 30
    batch_size: int = 8192
    learning_rate: float = 0.01
    weight_decay: float = 1e-6
    negatives_per_positive: float = 1.0
    dropout: float = 0.0
    batch_norm: bool = False
    validation_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    device: str = "auto"  # "cpu", "cuda" or "auto" (CUDA when present)

    def as_dict(self) -> dict:
        return asdict(self)


class MfNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, params: MfParams) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, params.factors)
        self.items = nn.Embedding(n_items, params.factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.05)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)
        self.user_norm = nn.BatchNorm1d(params.factors) if params.batch_norm else nn.Identity()
        self.item_norm = nn.BatchNorm1d(params.factors) if params.batch_norm else nn.Identity()
        self.dropout = nn.Dropout(params.dropout)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.user_norm(self.users(users)))

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.item_norm(self.items(items)))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (self.user_vectors(users) * self.item_vectors(items)).sum(dim=1)
        return dot + self.user_bias(users).squeeze(1) + self.item_bias(items).squeeze(1) + self.bias


@dataclass
class MfModel:
    """A trained net (on the CPU, for pickling) and how training went."""

    net: MfNet
    params: MfParams
    explicit: bool
    history: list[dict] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _negatives(
    rng: np.random.Generator, users: npt.NDArray, n_items: int, ratio: float
) -> tuple[npt.NDArray, npt.NDArray]:
    """Random (user, item) pairs standing for unseen items (a rare hit on a seen one is noise)."""
    count = int(len(users) * ratio)
    return rng.choice(users, count), rng.integers(0, n_items, count)


def fit(
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    *,
    n_users: int,
    n_items: int,
    params: MfParams,
    explicit: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    init: MfModel | None = None,
) -> MfModel:
    """Train on (user, item, target) rows: targets 1/0 for swipes, or ratings when `explicit`.

    With `init` the weights start from that model (a warm start on more data).
    """
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    device = pick_device(params.device)
    order = rng.permutation(len(users))
    n_valid = int(len(order) * params.validation_fraction)
    valid, train = order[:n_valid], order[n_valid:]
    net = MfNet(n_users, n_items, params)
    if init is not None:
        net.load_state_dict(init.net.state_dict())
    elif explicit and len(train):
        # Ratings start from their mean, not 0: the model only learns what differs from it.
        net.bias.data.fill_(float(targets[train].mean()))
    net = net.to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    loss_fn = nn.MSELoss() if explicit else nn.BCEWithLogitsLoss()
    best, best_loss, stale, history = None, float("inf"), 0, []
    for epoch in range(params.epochs):
        u, i, y = users[train], items[train], targets[train]
        if not explicit and params.negatives_per_positive > 0:
            nu, ni = _negatives(rng, u[y > 0], n_items, params.negatives_per_positive)
            u, i = np.concatenate([u, nu]), np.concatenate([i, ni])
            y = np.concatenate([y, np.zeros(len(nu), np.float32)])
        net.train()
        shuffled = rng.permutation(len(u))
        total = 0.0
        batch_size = _batch_size(params.batch_size, len(u))
        for start in range(0, len(u), batch_size):
            batch = shuffled[start : start + batch_size]
            tu, ti = (torch.as_tensor(a[batch], device=device) for a in (u, i))
            ty = torch.as_tensor(y[batch], device=device)
            optimizer.zero_grad()
            loss = loss_fn(net(tu, ti), ty)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        valid_loss = _loss(net, users[valid], items[valid], targets[valid], loss_fn, device)
        record = {"epoch": epoch + 1, "train_loss": total / len(u), "valid_loss": valid_loss}
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if valid_loss < best_loss - 1e-5:
            best_loss, stale = valid_loss, 0
            best = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= params.patience:
                break
    if best is not None:
        net.load_state_dict(best)
    return MfModel(net.cpu().eval(), params, explicit, history)


def _batch_size(largest: int, rows: int, *, min_batches: int = 16) -> int:
    """`largest`, or less on small data: an epoch of one or two steps barely moves the model
    (a few thousand ratings would otherwise get 30 optimiser steps in all)."""
    return max(1, min(largest, max(64, -(-rows // min_batches))))


@torch.no_grad()
def _loss(net, users, items, targets, loss_fn, device) -> float:
    if not len(users):
        return float("nan")
    net.eval()
    out = net(torch.as_tensor(users, device=device), torch.as_tensor(items, device=device))
    return float(loss_fn(out, torch.as_tensor(targets, device=device)))


@torch.no_grad()
def predict(
    model: MfModel, users: npt.NDArray[np.int64], items: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Like-probability (or predicted rating, for an explicit model) of each (user, item)."""
    out = model.net(torch.as_tensor(users), torch.as_tensor(items))
    return (out if model.explicit else torch.sigmoid(out)).numpy()


@torch.no_grad()
def embeddings(model: MfModel) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """User and item vectors such that one dot product gives the model's logit (or rating).

    user = [u, b_u, 1], item = [v, 1, b_i + b]: u.v + b_u + b_i + b. Batch norm (eval mode)
    is folded in; dropout is off outside training.
    """
    net = model.net.eval()
    u = net.user_norm(net.users.weight)
    v = net.item_norm(net.items.weight)
    ones_u, ones_v = torch.ones(len(u), 1), torch.ones(len(v), 1)
    users = torch.cat([u, net.user_bias.weight, ones_u], dim=1)
    items = torch.cat([v, ones_v, net.item_bias.weight + net.bias], dim=1)
    return users.numpy().astype(np.float32), items.numpy().astype(np.float32)


def classification_metrics(
    labels: npt.NDArray[np.float32], probabilities: npt.NDArray[np.float32]
) -> dict[str, float]:
    """AUC and log-loss of like-probabilities against held-out swipes."""
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return {
        "auc": float(roc_auc_score(labels, probabilities)),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
    }


def rating_metrics(
    ratings: npt.NDArray[np.float32], predicted: npt.NDArray[np.float32], *, train_mean: float
) -> dict[str, float]:
    """MAE and RMSE of predicted ratings, and the same of the training ratings' mean (the
    baseline a ratings model has to beat) under `baseline_`."""
    truth = np.asarray(ratings, np.float64)
    out = {}
    for prefix, guess in (("", np.asarray(predicted, np.float64)), ("baseline_", train_mean)):
        error = guess - truth
        out[f"{prefix}mae"] = float(np.abs(error).mean())
        out[f"{prefix}rmse"] = float(np.sqrt((error**2).mean()))
    return out
