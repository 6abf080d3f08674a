"""The Interest-Aware Reward as pure functions that return every component.

For a generated SID y and the target item i*:
    r = exact * 1[y = SID(i*)] + l_valid * 1[y is an item] + l_pref * LCP(y, SID(i*)) / L
        + alpha * q(i*) * 1[y = SID(i*)] + l_int * sim(interests(y), the user's interests)
plus, optionally, l_cf / log2(2 + the candidate's rank under a collaborative teacher) (MiniOneRec's
SASRec reward, bounded) and MiniOneRec's rank-aware penalty for wrong candidates. The prefix and interest terms
give a group where no candidate hits the target a non-zero spread, so it still carries a signal.
"""

from __future__ import annotations

import math

import numpy as np

from deepinterest.config import RewardConfig

COMPONENTS = ("exact", "valid", "prefix", "quality", "interest", "collab", "rank", "total")


def common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def interest_aware_reward(candidate: tuple[int, ...], target: tuple[int, ...], *, is_item: bool, q_target: float,
                          interest_sim: float, rank: int, config: RewardConfig,
                          teacher_rank: int | None = None) -> dict[str, float]:
    """Every weighted component and their total for one candidate SID.

    `rank`: 1-based in its group; `teacher_rank`: 0-based among all items under the collaborative
    teacher (None: no teacher, no collab term).
    """
    exact = float(is_item and tuple(candidate) == tuple(target))
    parts = {
        "exact": config.exact * exact,
        "valid": config.valid * float(is_item),
        "prefix": config.prefix * common_prefix(tuple(candidate), tuple(target)) / max(len(target), 1),
        "quality": config.alpha * q_target * exact,
        "interest": config.interest * float(interest_sim) * float(is_item),
        "collab": config.collab / math.log2(teacher_rank + 2) if is_item and teacher_rank is not None else 0.0,
        "rank": -config.rank_weight / math.log2(rank + 1) if config.rank_penalty and not exact else 0.0,
    }
    parts["total"] = sum(parts.values())
    return parts


def group_advantages(rewards: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, zero-variance flag) for rewards shaped (groups, G): (r - mean) / (std + eps) per group.

    A group whose rewards are all equal teaches nothing: its advantages are 0 and it is flagged.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    mean, std = rewards.mean(1, keepdims=True), rewards.std(1, keepdims=True)
    flat = std[:, 0] < 1e-9
    return np.where(flat[:, None], 0.0, (rewards - mean) / (std + eps)), flat


def k3_kl(logp, ref_logp):
    """Schulman's k3 estimator of KL(policy || reference), per token: exp(d) - d - 1 with d = ref - logp.

    Numbers, NumPy arrays or torch tensors (the GRPO trainer's, with gradients): one implementation for both.
    """
    d = ref_logp - logp if hasattr(ref_logp, "exp") else np.asarray(ref_logp) - np.asarray(logp)
    return (d.exp() if hasattr(d, "exp") else np.exp(d)) - d - 1.0
