"""The Inception Score protocol: splits with hand-computed values, classes present, and the real
images' reference computed once per dataset and reused."""

from __future__ import annotations

import math

import pytest
import torch

from energan.data.digits import load_digits
from energan.metrics import classifier, inception
from energan.metrics.inception import InceptionScore, class_shares, inception_score_from_probs, split_inception_score


def test_inception_score_of_hand_examples() -> None:
    assert inception_score_from_probs(torch.tensor([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(2.0)
    assert inception_score_from_probs(torch.tensor([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(1.0)
    # rows (0.5, 0.5) and (1, 0): marginal (0.75, 0.25); KL = 0.5·ln(2/3) + 0.5·ln 2 and ln(4/3)
    kl = (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25) + math.log(1 / 0.75)) / 2
    assert inception_score_from_probs(torch.tensor([[0.5, 0.5], [1.0, 0.0]])) == pytest.approx(math.exp(kl), rel=1e-6)


def test_split_score_is_mean_and_population_std_of_the_splits() -> None:
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # splits [[1,0],[0,1]] → IS 2 and [[1,0],[1,0]] → IS 1; the fifth row is left over
    mean, std = split_inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5) and std == pytest.approx(0.5)
    assert split_inception_score(probs[:4], splits=1)[1] == 0.0


@pytest.mark.parametrize("splits", [0, 6])
def test_split_count_must_fit_the_samples(splits: int) -> None:
    with pytest.raises(ValueError, match=f"splits {splits}"):
        split_inception_score(torch.full((5, 2), 0.5), splits)


def test_class_shares_count_the_votes() -> None:
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]])
    assert class_shares(probs).tolist() == [0.75, 0.25, 0.0]


@pytest.fixture(scope="module")
def digits():
    return load_digits(8)


def test_protocol_and_real_reference_reused(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifier runs on the test images once per dataset (when trained); evaluations score
    only their own samples, and a fresh load takes the real images' probabilities from the cache."""
    classifier.dataset_classifier(digits)  # trained (or loaded) once for the module's cache
    scored: list[int] = []
    real_passes: list[int] = []
    score_fakes = inception.class_probabilities
    monkeypatch.setattr(inception, "class_probabilities", lambda model, images: scored.append(len(images)) or score_fakes(model, images))
    monkeypatch.setattr(classifier, "class_probabilities", lambda model, images: real_passes.append(len(images)))
    metric = InceptionScore(samples=200, splits=10, training_samples=100)
    first = metric.evaluate(lambda n: digits.test_images[torch.arange(n) % len(digits.test_images)], digits, final=False)
    classifier._loaded.clear()  # as in a new process: the reference comes from the cache file
    last = metric.evaluate(lambda n: digits.test_images[torch.arange(n) % len(digits.test_images)], digits, final=True)
    assert scored == [100, 200] and real_passes == []
    assert first["inception_samples"] == 100 and last["inception_samples"] == 200 and last["inception_splits"] == 10
    assert last["inception_score_real"] > 5 and last["classifier_test_accuracy"] > 0.9
    assert last["classes_present"] == 10 and last["smallest_class_share"] >= 0.05
    assert last["inception_score_std"] > 0 and abs(last["inception_score"] - last["inception_score_real"]) < 1.0


def test_collapsed_samples_miss_classes(digits) -> None:
    one = digits.test_images[digits.test_labels == 3][:1]
    values = InceptionScore(samples=100, splits=10, training_samples=100).evaluate(lambda n: one.expand(n, -1, -1, -1), digits)
    assert values["classes_present"] == 1 and values["smallest_class_share"] == 0 and values["inception_score"] < 1.1


def test_a_cache_entry_without_test_probabilities_gets_them_once(digits) -> None:
    """Classifiers cached before the protocol kept only weights and accuracy: the first load adds
    the real images' probabilities to the entry, later loads read them."""
    reference = classifier.dataset_classifier(digits)
    path = next(path for path, loaded in classifier._loaded.items() if loaded is reference)
    saved = torch.load(path, weights_only=True)
    del saved["test_probabilities"]
    torch.save(saved, path)
    classifier._loaded.clear()
    upgraded = classifier.dataset_classifier(digits)
    assert torch.allclose(upgraded.test_probabilities, reference.test_probabilities, atol=1e-6)
    assert "test_probabilities" in torch.load(path, weights_only=True)
