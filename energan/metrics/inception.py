"""Inception Score with a dataset classifier: exp(E_x KL(p(y|x) ‖ p(y)))."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from energan.data import ImageData
from energan.metrics.classifier import dataset_classifier


def inception_score_from_probs(probs: Tensor) -> float:
    """IS of class probabilities [N, K]: exp of the mean KL from each row to their mean."""
    marginal = probs.mean(dim=0, keepdim=True)
    kl = (probs * (torch.log(probs + 1e-12) - torch.log(marginal + 1e-12))).sum(dim=1)
    return kl.mean().exp().item()


@torch.no_grad()
def class_probabilities(classifier: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    return torch.cat([classifier(chunk).softmax(dim=1) for chunk in images.split(batch_size)])


class InceptionScore:
    """IS of generated samples, next to the IS of the real test images (the ceiling)."""

    def __init__(self, samples: int) -> None:
        self.samples = samples

    def evaluate(self, generate: Callable[[int], Tensor], data: ImageData) -> dict[str, float]:
        classifier, test_accuracy = dataset_classifier(data)
        fake = generate(self.samples).float().cpu().clamp(-1, 1)
        return {
            "inception_score": inception_score_from_probs(class_probabilities(classifier, fake)),
            "inception_score_real": inception_score_from_probs(class_probabilities(classifier, data.test_images)),
            "classifier_test_accuracy": test_accuracy,
        }
