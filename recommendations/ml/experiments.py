"""A/B experiments, the pure part: sticky assignment to variants, and the statistics of the
report (no Django, no Redis).

Assignment: a user (or a guest's client id) falls in one of BUCKETS buckets by a hash of the
experiment's salt and the key; each bucket belongs to one variant. When shares change, only
as many buckets as the change needs move, and only from variants that shrink: users of a
variant that keeps or grows its share stay where they were.

Statistics: the report may be looked at every day, so its p-values and intervals are
always valid (a mixture sequential probability ratio test, Johari, Pekelis and Walsh, "Always
valid inference", 2017): stopping the first time p < 0.05 keeps the false-positive rate under
5 %, where a fixed-horizon z-test read daily would not. The split is checked for a sample
ratio mismatch with a chi-square test of the users seen per variant against the shares.
"""

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

BUCKETS = 1000
SRM_ALPHA = 0.001  # the usual threshold: a mismatch this unlikely is a broken split
# The mixture's spread: effects of about +-20 % of the rate (tau = 0.2 x the pooled rate); the
# test is most sensitive to effects near that size, and valid for any.
MIXTURE_RELATIVE = 0.2


def bucket(salt: str, key: str) -> int:
    """The bucket of `key` ("u:42" or "c:<client id>") in an experiment: stable across
    processes and restarts (a hash, not Python's salted hash())."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def allocate(shares: list[int], previous: list[int] | None = None) -> list[int]:
    """Bucket -> variant index for integer `shares` (summing to 100). With `previous` (the
    allocation before a change), buckets move only from variants over their new count to
    those under it, the lowest-numbered first, so most users keep their variant."""
    if any(s < 0 for s in shares) or sum(shares) != 100:
        raise ValueError("variant shares must be whole percentages that add up to 100")
    want = [BUCKETS * s // 100 for s in shares]
    want[0] += BUCKETS - sum(want)
    if previous is None or len(previous) != BUCKETS or max(previous) >= len(shares):
        return [v for v, count in enumerate(want) for _ in range(count)]
    out = list(previous)
    have = [out.count(v) for v in range(len(shares))]
    spare = []
    for b, v in enumerate(out):
        if have[v] > want[v]:
            have[v] -= 1
            spare.append(b)
    for v in range(len(shares)):
        while have[v] < want[v]:
            out[spare.pop(0)] = v
            have[v] += 1
    return out


@dataclass(frozen=True)
class Comparison:
    """A treatment's rate against control's: relative lift, its always-valid 95 % interval,
    the always-valid p-value, and the fixed-horizon z-test's p for reference."""

    control_rate: float
    rate: float
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    p_value: float
    z_test_p: float


def compare(
    control_hits: int, control_n: int, hits: int, n: int, *, alpha: float = 0.05
) -> Comparison:
    """Two proportions (users with the outcome / users) by mSPRT with a normal mixture."""
    pc = control_hits / control_n if control_n else 0.0
    pt = hits / n if n else 0.0
    if not control_n or not n:
        return Comparison(pc, pt, None, None, None, 1.0, 1.0)
    pooled = (control_hits + hits) / (control_n + n)
    # variance of the difference in rates, from the pooled rate (the null's variance)
    var = pooled * (1 - pooled) * (1 / control_n + 1 / n)
    diff = pt - pc
    if var <= 0:
        return Comparison(pc, pt, None, None, None, 1.0, 1.0)
    tau2 = (MIXTURE_RELATIVE * pooled) ** 2
    log_ratio = 0.5 * math.log(var / (var + tau2)) + tau2 * diff**2 / (2 * var * (var + tau2))
    p_value = min(1.0, math.exp(-log_ratio))
    z_test_p = float(2 * stats.norm.sf(abs(diff) / math.sqrt(var)))
    # the confidence sequence around the difference, from the unpooled variance
    var_u = pc * (1 - pc) / control_n + pt * (1 - pt) / n
    half = (
        math.sqrt(
            var_u * (var_u + tau2) / tau2 * (math.log((var_u + tau2) / var_u) - 2 * math.log(alpha))
        )
        if var_u > 0
        else 0.0
    )
    if pc <= 0:
        return Comparison(pc, pt, None, None, None, p_value, z_test_p)
    return Comparison(pc, pt, diff / pc, (diff - half) / pc, (diff + half) / pc, p_value, z_test_p)


def sample_ratio_mismatch(users: list[int], shares: list[int]) -> tuple[float, bool]:
    """The chi-square p-value of the users seen per variant against the configured shares,
    and whether it flags a broken split (p < SRM_ALPHA)."""
    total = sum(users)
    if total == 0:
        return 1.0, False
    expected = np.asarray(shares, float) / 100 * total
    keep = expected > 0
    observed = np.asarray(users, float)
    if (observed[~keep] > 0).any():
        return 0.0, True  # users in a variant configured to get none
    p = float(stats.chisquare(observed[keep], expected[keep]).pvalue)
    return p, p < SRM_ALPHA
