"""``label_free``: the recommended label-free ranker, a rank aggregate fixed in advance of data-free scores.

Six scores, none of which reads a label or an image (each sees only the batch's shape: AZ-NAS's pass runs on a
seeded standard-normal batch of that shape, whatever the batch holds), combined by
AZ-NAS's sum of log-ranks (:class:`~unnas.rankers.aggregate.Aggregate`, each ranked against a reference sample of
the space):

- AZ-NAS's four (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability (one forward and backward pass
  on the first ``az_batch`` samples of the batch) and complexity (multiply-adds);
- MeCo_opt (Jiang et al., NeurIPS 2023): minimum eigenvalues of sampled channel correlations on one Gaussian
  sample;
- synflow (Tanaka et al., NeurIPS 2020): the path norm of the absolute weights on an all-ones input.

Three families of evidence, each a published label-free ranker: feature-space geometry and gradient flow (AZ-NAS),
channel redundancy (MeCo) and signal propagation through the weights (synflow). docs/rankers.md says how the set
was chosen and docs/results/rankers/ what it reaches.
"""

from __future__ import annotations

from typing import List

from torch import nn

from unnas.errors import ConfigError
from unnas.rankers.aggregate import Aggregate
from unnas.rankers.base import RankBatch, gaussian_batch
from unnas.rankers.aznas import AZComplexity, AZExpressivity, AZProgressivity, AZTrainability
from unnas.rankers.meco import MeCoOpt
from unnas.rankers.synflow import Synflow

#: images of the batch AZ-NAS's pass reads in ``label_free`` (a quarter of ``unnas rank``'s default 64)
AZ_BATCH = 16


class LabelFree(Aggregate):
    """``label_free``: AZ-NAS's four scores, MeCo_opt and synflow, combined by the sum of log-ranks.

    Args:
        az_batch: samples of the batch AZ-NAS's pass reads.
        reference: architectures in the reference sample of the space.
        reference_seed: the seed of that sample.
        seed: seeds every score and the reference networks.
    """

    name = "label_free"
    needs_images = False

    def __init__(self, az_batch: int = AZ_BATCH, reference: int = 128, reference_seed: int = 0, seed: int = 0):
        if az_batch < 2:
            raise ConfigError(f"label_free: az_batch must be at least 2 (AZ-NAS's statistics are over samples), got "
                              f"{az_batch}")
        self.az_batch = az_batch
        super().__init__([AZExpressivity(batch_size=az_batch), AZProgressivity(batch_size=az_batch),
                          AZTrainability(batch_size=az_batch), AZComplexity(), MeCoOpt(), Synflow()],
                         "log_rank_sum", reference, reference_seed, seed)
        self.needs_images = False

    def component_scores(self, net: nn.Module, batch: RankBatch) -> List[float]:
        """The six scores on a seeded standard-normal batch of *batch*'s image shape (``az_batch`` samples,
        seeded with ``seed``: the first samples of ``unnas rank``'s Gaussian batch of the same seed)."""
        noise = gaussian_batch(tuple(batch.images.shape[1:]), self.az_batch, 1, seed=self.seed)
        return super().component_scores(net, noise.to(batch.images.device))


__all__ = ["LabelFree", "AZ_BATCH"]
