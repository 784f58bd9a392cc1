"""A PyTorch matrix-factorisation model of swipes: P(like) = sigmoid(u . v + b_u + b_i + b).

Trained with binary cross-entropy on likes (1), dislikes (0) and, optionally, sampled unseen
items (0, with a weight of their own), or with MSE on explicit ratings; an L2 penalty on the
rows each batch uses; Adam; early stopping on a validation split; seeded. With `factors=0` it
is the user + item bias logistic model, the baseline a taste model has to beat.
"""

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

import numba
import numpy as np
import numpy.typing as npt
import torch
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from recommendations.ml.data import common_rows, holdout_mask


@dataclass(frozen=True)
class MfParams:
    factors: int = 32
    epochs: int = 30
    batch_size: int = 8192
    # Defaults: the winner of `train_mf_model --tune 30` on a validation part of the harder
    # synthetic shop's training swipes (docs/benchmarks.md, "Swipe model against its baselines").
    learning_rate: float = 0.005
    weight_decay: float = 0.0  # Adam's, on every row every step; `regularization` is per batch
    regularization: float = 0.015  # L2 on the vectors and biases of each batch's rows
    negatives_per_positive: float = 1.0
    negative_weight: float = 0.5  # a sampled unseen item's weight in the loss (a swipe: 1)
    dropout: float = 0.0
    batch_norm: bool = False
    validation_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    device: str = "auto"  # "cpu", "cuda" or "auto" (CUDA when present)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_bias_model(self) -> bool:
        return self.factors == 0


# The user + item bias logistic model: what a shop would try first, so what MF has to beat.
BIAS_PARAMS = MfParams(
    factors=0, epochs=40, learning_rate=0.01, regularization=1e-3,
    negatives_per_positive=0.0,
)  # fmt: skip


def bias_params(params: MfParams) -> MfParams:
    """The bias baseline with `params`' seed, device and validation split."""
    return replace(
        BIAS_PARAMS, seed=params.seed, device=params.device,
        validation_fraction=params.validation_fraction,
    )  # fmt: skip


def sample_params(rng: np.random.Generator, *, seed: int) -> MfParams:
    """One random-search candidate: factors, regularisation, learning rate, the number and
    weight of sampled unseen items (none included), dropout and batch norm."""
    negatives = float(rng.choice([0.0, 0.5, 1.0, 2.0]))
    return MfParams(
        factors=int(rng.choice([8, 16, 32, 64])),
        learning_rate=float(10 ** rng.uniform(-2.7, -1.5)),
        regularization=float(10 ** rng.uniform(-3, -1)),
        negatives_per_positive=negatives,
        negative_weight=float(rng.choice([0.1, 0.2, 0.5, 1.0])) if negatives else 1.0,
        dropout=float(rng.choice([0.0, 0.0, 0.1, 0.2])),
        batch_norm=bool(rng.random() < 0.2),
        epochs=60,
        seed=seed,
    )


class MfNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, params: MfParams) -> None:
        super().__init__()
        # Sparse gradients: a step then touches the batch's rows only (see RowAdam), where a
        # dense Adam step would rewrite every row of a million users' table.
        sparse = params.weight_decay == 0
        self.users = nn.Embedding(n_users, params.factors, sparse=sparse)
        self.items = nn.Embedding(n_items, params.factors, sparse=sparse)
        self.user_bias = nn.Embedding(n_users, 1, sparse=sparse)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.05)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)
        self.user_norm = nn.BatchNorm1d(params.factors) if params.batch_norm else nn.Identity()
        self.item_norm = nn.BatchNorm1d(params.factors) if params.batch_norm else nn.Identity()
        self.dropout = nn.Dropout(params.dropout)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.scored(users, items)[0]

    def scored(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the pairs, and the mean squared norm of the rows (vectors and biases)
        they use: the batch's L2 penalty, from the same lookups."""
        u, v = self.users(users), self.items(items)
        b_u, b_i = self.user_bias(users).squeeze(1), self.item_bias(items).squeeze(1)
        dot = (self.dropout(self.user_norm(u)) * self.dropout(self.item_norm(v))).sum(dim=1)
        norms = u.pow(2).sum(dim=1) + v.pow(2).sum(dim=1) + b_u.pow(2) + b_i.pow(2)
        return dot + b_u + b_i + self.bias, norms.mean()


class RowAdam:
    """Adam on the net's dense parameters, and "lazy" Adam on its embedding tables where their
    gradients are sparse: the moments and weights of the rows a batch used are updated (with
    the step's bias correction), the other rows are left alone. A step costs the batch's rows,
    not the tables' (torch's SparseAdam was as slow as the dense step on a 1M-row table here).
    Tables with dense gradients (Adam's weight decay touches every row) go to Adam whole."""

    def __init__(self, net: nn.Module, *, lr: float, weight_decay: float = 0.0) -> None:
        self.tables = [m.weight for m in net.modules() if isinstance(m, nn.Embedding) and m.sparse]
        lazy = {id(t) for t in self.tables}
        dense = [p for p in net.parameters() if id(p) not in lazy]
        self.dense = torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay)
        self.lr, self.steps = lr, 0
        self.beta1, self.beta2 = self.dense.defaults["betas"]
        self.eps = self.dense.defaults["eps"]
        self.moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t in self.tables]

    def zero_grad(self) -> None:
        self.dense.zero_grad()
        for table in self.tables:
            table.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.dense.step()
        self.steps += 1
        b1, b2 = self.beta1, self.beta2
        first_fix, second_fix = 1 - b1**self.steps, 1 - b2**self.steps
        for table, (mean, square) in zip(self.tables, self.moments, strict=True):
            if table.grad is None:
                continue
            # On the CPU one compiled pass over the rows; elsewhere torch's own operations.
            lazy_step = _lazy_adam_rows if table.device.type == "cpu" else _lazy_adam_torch
            lazy_step(
                table, mean, square, table.grad,
                lr=self.lr, betas=(b1, b2), fixes=(first_fix, second_fix), eps=self.eps,
            )  # fmt: skip


def _lazy_adam_torch(table, mean, square, grad, *, lr, betas, fixes, eps) -> None:
    """Lazy Adam on the rows of a sparse `grad`, in place, with torch operations."""
    (b1, b2), (first_fix, second_fix) = betas, fixes
    grad = grad.coalesce()
    rows, values = grad.indices()[0], grad.values()
    m = mean[rows].mul_(b1).add_(values, alpha=1 - b1)
    v = square[rows].mul_(b2).addcmul_(values, values, value=1 - b2)
    mean[rows], square[rows] = m, v
    table.index_add_(0, rows, (m / first_fix) / ((v / second_fix).sqrt_().add_(eps)), alpha=-lr)


def _lazy_adam_rows(table, mean, square, grad, *, lr, betas, fixes, eps) -> None:
    """The same step as `_lazy_adam_torch` for CPU tensors, one row at a time in compiled
    code: the torch path reads and writes each table five times, and a 1M-row table's random
    rows are cache misses every time (a step 4-6x faster measured at 1M users)."""
    _lazy_adam_kernel(
        table.detach().numpy(), mean.numpy(), square.numpy(), grad._indices()[0].numpy(),
        grad._values().contiguous().numpy(), lr, *betas, *fixes, eps,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, fastmath=True)
def _lazy_adam_kernel(table, mean, square, rows, grads, lr, b1, b2, first_fix, second_fix, eps):
    """Lazy Adam in place on the rows a sparse gradient names (`rows`, repeated where a batch
    used a row more than once; `grads` one line per entry, summed per row here)."""
    order = np.argsort(rows, kind="mergesort")
    summed = np.zeros(table.shape[1], dtype=np.float32)
    n = 0
    while n < len(order):
        r = rows[order[n]]
        summed[:] = 0
        while n < len(order) and rows[order[n]] == r:
            summed += grads[order[n]]
            n += 1
        for d in range(table.shape[1]):
            g = summed[d]
            m = b1 * mean[r, d] + (1 - b1) * g
            v = b2 * square[r, d] + (1 - b2) * g * g
            mean[r, d], square[r, d] = m, v
            table[r, d] -= lr * (m / first_fix) / (np.sqrt(v / second_fix) + eps)


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
    valid: npt.NDArray[np.bool_] | None = None,
    patience: int | None = None,
    learning_rate: float | None = None,
    max_epochs: int | None = None,
) -> MfModel:
    """Train on (user, item, target) rows: targets 1/0 for swipes, or ratings when `explicit`.

    With `init` the weights start from that model (a warm start on more data). Early stopping
    watches the loss on the rows marked `valid` (default: a random `validation_fraction`),
    stopping after `patience` epochs without a better one (default: the params').
    `learning_rate` and `max_epochs` replace the params' for this fit only, which the model
    still records as its params (a warm start takes smaller steps: Adam starts afresh, and its
    first steps move every row they touch by about the learning rate).
    """
    patience = params.patience if patience is None else patience
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    device = pick_device(params.device)
    if valid is None:
        order = rng.permutation(len(users))
        n_valid = int(len(order) * params.validation_fraction)
        valid, train = order[:n_valid], order[n_valid:]
    else:
        valid, train = np.flatnonzero(valid), np.flatnonzero(~valid)
    net = MfNet(n_users, n_items, params)
    if init is not None:
        net.load_state_dict(init.net.state_dict())
    elif explicit and len(train):
        # Ratings start from their mean, not 0: the model only learns what differs from it.
        net.bias.data.fill_(float(targets[train].mean()))
    net = net.to(device)
    lr = params.learning_rate if learning_rate is None else learning_rate
    optimizer = RowAdam(net, lr=lr, weight_decay=params.weight_decay)
    loss_fn = nn.MSELoss() if explicit else nn.BCEWithLogitsLoss()
    each_loss = nn.MSELoss(reduction="none") if explicit else nn.BCEWithLogitsLoss(reduction="none")
    best, best_loss, stale, history = None, float("inf"), 0, []
    for epoch in range(params.epochs if max_epochs is None else max_epochs):
        u, i, y = users[train], items[train], targets[train]
        w = np.ones(len(u), np.float32)
        if not explicit and params.negatives_per_positive > 0:
            nu, ni = _negatives(rng, u[y > 0], n_items, params.negatives_per_positive)
            u, i = np.concatenate([u, nu]), np.concatenate([i, ni])
            y = np.concatenate([y, np.zeros(len(nu), np.float32)])
            w = np.concatenate([w, np.full(len(nu), params.negative_weight, np.float32)])
        net.train()
        shuffled = rng.permutation(len(u))
        total = 0.0
        batch_size = _batch_size(params.batch_size, len(u))
        for start in range(0, len(u), batch_size):
            batch = shuffled[start : start + batch_size]
            tu, ti = (torch.as_tensor(a[batch], device=device) for a in (u, i))
            ty, tw = (torch.as_tensor(a[batch], device=device) for a in (y, w))
            optimizer.zero_grad()
            logits, penalty = net.scored(tu, ti)
            loss = (each_loss(logits, ty) * tw).mean() + params.regularization * penalty
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
            if stale >= patience:
                break
    if best is not None:
        net.load_state_dict(best)
    return MfModel(net.cpu().eval(), params, explicit, history)


def fit_held_out(
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    held_out: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    params: MfParams,
    explicit: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    init: MfModel | None = None,
    valid: npt.NDArray[np.bool_] | None = None,
    patience: int | None = None,
    learning_rate: float | None = None,
    max_epochs: int | None = None,
) -> tuple[MfModel, npt.NDArray[np.float32]]:
    """A model fitted on the rows not `held_out`, and its predictions for those that are
    (`init`, `valid`, `patience`, `learning_rate` and `max_epochs` as for `fit`, `valid` over
    all the rows)."""
    kept = ~held_out
    model = fit(
        users[kept], items[kept], targets[kept], n_users=n_users, n_items=n_items,
        params=params, explicit=explicit, on_epoch=on_epoch, init=init,
        valid=None if valid is None else valid[kept], patience=patience,
        learning_rate=learning_rate, max_epochs=max_epochs,
    )  # fmt: skip
    return model, predict(model, users[held_out], items[held_out])


def carried_over(
    model: MfModel,
    *,
    users: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    items: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> MfModel:
    """`model` on new user and item indexes, to warm-start a fit: `users` and `items` are
    (the ids `model` was trained on, the ids now), both sorted; the rows of ids in both keep
    their weights, new ids start as a fresh net would (seeded)."""
    torch.manual_seed(model.params.seed)
    net = MfNet(len(users[1]), len(items[1]), model.params)
    state, old = net.state_dict(), model.net.state_dict()
    for name, value in old.items():
        side = users if name.startswith("user") else items if name.startswith("item") else None
        if side is None or "_norm." in name:  # the global bias, batch norm's state
            state[name] = value.clone()
            continue
        old_rows, new_rows = common_rows(*side)
        state[name][torch.from_numpy(new_rows)] = value[torch.from_numpy(old_rows)]
    net.load_state_dict(state)
    return replace(model, net=net.eval(), history=[])


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


def search_candidates(first: MfParams, *, trials: int) -> list[MfParams]:
    """`first`, then `trials - 1` random candidates (seeded by `first.seed`, on its device)."""
    rng = np.random.default_rng(first.seed)
    return [first] + [
        replace(sample_params(rng, seed=first.seed), device=first.device) for _ in range(trials - 1)
    ]


def validation_part(
    users: npt.NDArray[np.int64], train: npt.NDArray[np.bool_], *, seed: int
) -> npt.NDArray[np.bool_]:
    """A fifth of each user's `train` swipes, where tuning scores its candidates (the swipes
    outside `train` are the test that tuning never sees)."""
    rows = np.flatnonzero(train)
    validation = np.zeros(len(users), dtype=bool)
    validation[rows[holdout_mask(users[rows], test_fraction=0.2, seed=seed)]] = True
    return validation


def random_search(
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    validation: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    candidates: Iterable[MfParams],
) -> list[dict]:
    """Each candidate fitted on the swipes outside `validation` and scored on those in it:
    one record (params, AUC, log-loss, epochs) per candidate."""
    recorded = []
    for params in candidates:
        model, predicted = fit_held_out(
            users, items, targets, validation, n_users=n_users, n_items=n_items, params=params
        )
        recorded.append(
            {
                "params": params.as_dict(),
                **classification_metrics(targets[validation], predicted),
                "epochs": len(model.history),
            }
        )
    return recorded


def item_like_rates(
    items: npt.NDArray[np.int64],
    labels: npt.NDArray[np.float32],
    *,
    n_items: int,
    prior_swipes: float = 10.0,
) -> npt.NDArray[np.float64]:
    """Each item's like rate, shrunk towards the overall rate as if it had `prior_swipes` more
    swipes at that rate (an item nobody swiped gets the overall rate)."""
    overall = float(labels.mean()) if len(labels) else 0.5
    likes = np.bincount(items, weights=labels, minlength=n_items)
    swipes = np.bincount(items, minlength=n_items)
    return (likes + prior_swipes * overall) / (swipes + prior_swipes)


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
