"""Inception Score with a dataset classifier, by Salimans et al.'s protocol: exp(E_x KL(p(y|x) ‖ p(y)))
on N samples in S splits, reported as the mean and standard deviation over the splits."""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import reduce
from torch import Tensor

from energan.data import DataSource
from energan.metrics.classifier import class_probabilities, dataset_classifier

PRESENT_SHARE = 0.05  # a class is present when at least this share of the samples is voted into it


def inception_score_from_probs(probs: Tensor) -> float:
    """IS of class probabilities [N, K]: exp of the mean KL from each row to their mean."""
    marginal = reduce(probs, "n k -> 1 k", "mean")
    kl = (probs * (torch.log(probs + 1e-12) - torch.log(marginal + 1e-12))).sum(dim=1)
    return kl.mean().exp().item()


def split_inception_score(probs: Tensor, splits: int) -> tuple[float, float]:
    """Mean and (population) standard deviation of the IS of ``splits`` consecutive equal parts;
    the last ``N mod splits`` rows are left out, as in Salimans et al.'s reference code."""
    if not 1 <= splits <= len(probs):
        raise ValueError(f"splits {splits}: must be between 1 and the number of samples ({len(probs)})")
    size = len(probs) // splits
    scores = torch.tensor([inception_score_from_probs(part) for part in probs[: size * splits].split(size)], dtype=torch.float64)
    return scores.mean().item(), scores.std(correction=0).item()


def class_shares(probs: Tensor) -> Tensor:
    """Share of the samples that the classifier votes (argmax) into each class [K]."""
    return torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1]).double() / len(probs)


def _drawn(probs: Tensor, count: int) -> Tensor:
    """``count`` rows drawn with replacement by a fixed generator: the real images scored with the
    same N and splits as the samples, so both carry the same small-split bias (the IS of a split
    grows with its size) and a test set stored class by class still gives mixed splits."""
    return probs[torch.randint(len(probs), (count,), generator=torch.Generator().manual_seed(0))]


class InceptionScore:
    """IS of generated samples (mean ± std over splits) with its protocol: the classifier's held-out
    accuracy, N, the splits, the real test images' score under the same protocol (from their class
    probabilities, computed once per dataset) and the classes present. Evaluations during
    training may score fewer samples than the final one."""

    name = "inception_score"
    higher_is_better = True
    requires = frozenset({"labels", "test_split"})

    def __init__(self, samples: int, splits: int, training_samples: int) -> None:
        self.samples, self.splits, self.training_samples = samples, splits, training_samples

    def prepare(self, data: DataSource) -> None:
        """Train (or find in the cache) the dataset's classifier and its reference values."""
        dataset_classifier(data)

    def evaluate(self, generate: Callable[[int], Tensor], data: DataSource, final: bool = True) -> dict[str, float]:
        reference = dataset_classifier(data)
        count = self.samples if final else min(self.training_samples, self.samples)
        probs = class_probabilities(reference.classifier, generate(count).float().cpu().clamp(-1, 1))
        score, spread = split_inception_score(probs, self.splits)
        real, real_spread = split_inception_score(_drawn(reference.test_probabilities, count), self.splits)
        shares = class_shares(probs)
        return {
            "inception_score": score,
            "inception_score_std": spread,
            "inception_score_real": real,
            "inception_score_real_std": real_spread,
            "classes_present": float((shares >= PRESENT_SHARE).sum()),
            "smallest_class_share": shares.min().item(),
            "inception_samples": float(count),
            "inception_splits": float(self.splits),
            "classifier_test_accuracy": reference.test_accuracy,
        }
