"""A surrogate over a study's finished jobs: sequential model-based optimisation as in PNAS (Liu et al., ECCV 2018).

An architecture becomes a fixed-length vector (:func:`arch_features`); an ensemble of small MLPs fitted to the
finished architectures' scores (:func:`fit_surrogate`) predicts the score of any other architecture of the space,
with the ensemble's spread as its uncertainty; :func:`propose` picks the candidates with the highest predicted
score (or ``mean + kappa * std``) that the study does not hold yet. :func:`holdout_rho` measures how well the
surrogate ranks finished architectures it was not fitted to. Pure: no store, no files; torch on the CPU only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Dict, List, Sequence, Tuple

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.base import SearchSpace

def arch_features(space: SearchSpace, arch: Any) -> np.ndarray:
    """The space's fixed-length float32 vector of *arch* (any form ``space.load`` reads; see
    :meth:`~unnas.spaces.base.SearchSpace.arch_features`)."""
    return np.asarray(space.arch_features(space.load(arch)), dtype=np.float32)


@dataclass
class Surrogate:
    """An ensemble of MLPs fitted to standardised scores, stored stacked (``layers[i] = (W [E, in, out], b [E, 1,
    out])``); :meth:`predict` gives the ensemble mean and std in the scores' own units."""

    layers: List[Tuple[torch.Tensor, torch.Tensor]]
    y_mean: float
    y_std: float

    @property
    def ensemble(self) -> int:
        return int(self.layers[0][0].shape[0])

    def predict(self, X: Any) -> Tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` over the ensemble of the predicted score of each row of *X*."""
        x = torch.as_tensor(np.asarray(X, dtype=np.float32))
        if x.ndim != 2 or x.shape[1] != self.layers[0][0].shape[1]:
            raise ConfigError(f"predict takes features [n, {self.layers[0][0].shape[1]}] (one row per "
                              f"architecture), got {tuple(x.shape)}")
        with torch.no_grad():
            preds = _forward(self.layers, x).numpy().astype(np.float64)
        preds = preds * self.y_std + self.y_mean
        return preds.mean(axis=0), preds.std(axis=0)


def _forward(layers: Sequence[Tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """Every member's output ``[E, n]`` for inputs ``[n, d]``: ReLU between the stacked linear layers."""
    h = x.unsqueeze(0).expand(layers[0][0].shape[0], -1, -1)
    for i, (w, b) in enumerate(layers):
        h = torch.baddbmm(b, h, w)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h.squeeze(-1)


def _init_layers(d_in: int, hidden: int, depth: int, seeds: Sequence[int]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Stacked copies of ``nn.Linear``'s default initialisation, member ``e`` drawn after ``manual_seed(seeds[e])``."""
    sizes = [d_in] + [hidden] * depth + [1]
    per_member = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            per_member.append([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    return [(torch.stack([m[i].weight.detach().T for m in per_member]).contiguous().requires_grad_(),
             torch.stack([m[i].bias.detach()[None] for m in per_member]).contiguous().requires_grad_())
            for i in range(len(sizes) - 1)]


def _check_fit_args(X: np.ndarray, y: np.ndarray, **sizes: int) -> None:
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "layers" else 1):
            raise ConfigError(f"surrogate {name} must be a {'non-negative' if name == 'layers' else 'positive'} "
                              f"integer, got {v!r}")
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ConfigError(f"the surrogate needs features [n, d] and scores [n] of the same n, got {X.shape} and "
                          f"{y.shape}")
    if len(y) < 2:
        raise ConfigError(f"the surrogate needs at least 2 scored architectures, got {len(y)}")
    if not np.all(np.isfinite(y)) or not np.all(np.isfinite(X)):
        raise ConfigError("the surrogate's features and scores must be finite")


def fit_surrogate(X: Any, y: Any, ensemble: int = 5, seed: int = 0, hidden: int = 64, layers: int = 2,
                  steps: int = 300, lr: float = 0.01, weight_decay: float = 0.0) -> Surrogate:
    """PNAS's predictor: *ensemble* MLPs (*layers* hidden ReLU layers of *hidden* units) on the standardised
    scores, each trained with *steps* full-batch Adam steps (MSE). With at least ``2 * ensemble`` points, member
    ``i`` leaves out fold ``i`` of a seeded split into *ensemble* folds (PNAS trains each on 4/5 of the data);
    with fewer, every member sees all points and they differ by initialisation only. The members train together
    as one stacked model whose loss is the sum of theirs, which is the same as training each alone (Adam is
    elementwise). Deterministic from *seed* (and torch's thread count); torch's global random state is untouched."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float64)
    _check_fit_args(X, y, ensemble=ensemble, hidden=hidden, layers=layers, steps=steps)
    y_mean, y_std = float(y.mean()), float(y.std())
    y_std = y_std if y_std > 0 else 1.0
    xt = torch.from_numpy(X)
    yt = torch.from_numpy(((y - y_mean) / y_std).astype(np.float32))
    mask = torch.ones(ensemble, len(y))
    if len(y) >= 2 * ensemble:
        for i, fold in enumerate(np.array_split(np.random.default_rng(seed).permutation(len(y)), ensemble)):
            mask[i, torch.as_tensor(fold)] = 0.0
    mask = mask / mask.sum(dim=1, keepdim=True)  # each member's MSE is the mean over its own points
    params = _init_layers(X.shape[1], hidden, layers, [seed * 1009 + i for i in range(ensemble)])
    opt = torch.optim.Adam([p for wb in params for p in wb], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((_forward(params, xt) - yt) ** 2 * mask).sum()
        loss.backward()
        opt.step()
    return Surrogate([(w.detach(), b.detach()) for w, b in params], y_mean, y_std)


def holdout_rho(X: Any, y: Any, folds: int = 5, seed: int = 0, **fit_kwargs: Any) -> Dict[str, Any]:
    """How well the surrogate ranks architectures it did not see: a seeded split into *folds* folds (fewer when a
    fold would hold fewer than 3 points); each fold is ranked by a surrogate fitted to the others, and ``rho`` is
    the mean over folds of Spearman's rho between that fold's predictions and scores (one surrogate ranks each
    fold, as one surrogate ranks the pool; pooling the folds' predictions would mix surrogates fitted to different
    data). Folds with constant predictions or scores are left out; ``rho`` is ``None`` when no fold is left.
    Returns ``{"rho", "per_fold", "n", "folds"}``."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float64)
    n = len(y)
    k = min(int(folds), n // 3)
    per_fold: List[float] = []
    if k >= 2:
        for f in np.array_split(np.random.default_rng(seed).permutation(n), k):
            rest = np.setdiff1d(np.arange(n), f)
            pred = fit_surrogate(X[rest], y[rest], seed=seed, **fit_kwargs).predict(X[f])[0]
            if np.ptp(pred) > 0 and np.ptp(y[f]) > 0:
                per_fold.append(float(spearmanr(pred, y[f])[0]))
    return {"rho": float(np.mean(per_fold)) if per_fold else None, "per_fold": per_fold, "n": n, "folds": max(k, 0)}


def propose(surrogate: Surrogate, candidates: Sequence[Tuple[str, Any]], k: int,
            exclude: Collection[str] = (), kappa: float = 0.0) -> List[Dict[str, Any]]:
    """The *k* candidates ``(key, features)`` with the highest ``mean + kappa * std`` (``kappa = 0``: the predicted
    score; ``kappa > 0``: an upper confidence bound), leaving out keys in *exclude* and repeated keys; fewer when
    fewer are left. Each is ``{"id", "mean", "std", "score"}``, best first (ties in candidate order)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"propose needs k >= 1 architectures, got {k!r}")
    if not np.isfinite(kappa):
        raise ConfigError(f"kappa must be a finite number, got {kappa}")
    excluded, seen, keys, rows = set(exclude), set(), [], []
    for key, feats in candidates:
        if key not in excluded and key not in seen:
            seen.add(key)
            keys.append(key)
            rows.append(np.asarray(feats, dtype=np.float32))
    if not keys:
        return []
    mean, std = surrogate.predict(np.stack(rows))
    score = mean + kappa * std
    order = np.argsort(-score, kind="stable")[:k]
    return [{"id": keys[i], "mean": float(mean[i]), "std": float(std[i]), "score": float(score[i])} for i in order]


__all__ = ["Surrogate", "arch_features", "fit_surrogate", "holdout_rho", "propose"]
