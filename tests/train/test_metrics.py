import math

import pytest
import torch

from resnets.errors import ResnetsError
from resnets.train import metrics
from resnets.train.metrics import (RunningAverage, confusion_matrix, error_rates,
                                   per_class_accuracy, topk_correct)

# Four samples, four classes. Target ranks: 1st, 2nd, 3rd, 4th.
LOGITS = torch.tensor([[5.0, 1.0, 0.0, -1.0],
                       [2.0, 3.0, 1.0, 0.0],
                       [3.0, 2.0, 4.0, 1.0],
                       [4.0, 3.0, 2.0, 1.0]])
TARGETS = torch.tensor([0, 0, 1, 3])


def test_topk_counts_by_rank():
    assert topk_correct(LOGITS, TARGETS, ks=(1, 2, 3, 4)) == {1: 1, 2: 2, 3: 3, 4: 4}


def test_k_above_num_classes_is_clamped_and_keeps_its_key():
    assert topk_correct(LOGITS, TARGETS, ks=(1, 5)) == {1: 1, 5: 4}


def test_ties_count_against_the_target():
    constant = torch.zeros(3, 4)
    assert topk_correct(constant, torch.tensor([0, 1, 3]), ks=(1, 3, 4)) == {1: 0, 3: 0, 4: 3}
    tied = torch.tensor([[1.0, 1.0, 0.0]])  # target 0 tied with class 1 for first place
    assert topk_correct(tied, torch.tensor([0]), ks=(1, 2)) == {1: 0, 2: 1}


def test_nan_rows_are_wrong_for_every_k():
    logits = torch.tensor([[float("nan"), 0.0], [1.0, 0.0]])
    assert topk_correct(logits, torch.tensor([0, 0]), ks=(1, 2, 9)) == {1: 1, 2: 1, 9: 1}


def test_topk_of_an_empty_batch_is_zero():
    assert topk_correct(torch.empty(0, 10), torch.empty(0, dtype=torch.long)) == {1: 0, 5: 0}


@pytest.mark.parametrize("logits, targets, ks, words", [
    (torch.zeros(2, 3), torch.tensor([0, 3]), (1,), "class 3, outside 0..2"),
    (torch.zeros(2, 3), torch.tensor([0, -1]), (1,), "class -1"),
    (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), (1,), "integer"),
    (torch.zeros(2, 3), torch.tensor([0]), (1,), "2 rows of logits but 1"),
    (torch.zeros(3), torch.tensor([0]), (1,), "batch, classes"),
    (torch.zeros(2, 3), torch.tensor([0, 1]), (0,), "positive integers"),
])
def test_topk_rejects_bad_inputs(logits, targets, ks, words):
    with pytest.raises(ResnetsError, match=words):
        topk_correct(logits, targets, ks)


def test_error_rates_from_counts():
    assert error_rates({1: 3, 5: 9}, 10) == pytest.approx({1: 0.7, 5: 0.1})
    assert all(math.isnan(v) for v in error_rates({1: 0}, 0).values())
    with pytest.raises(ValueError):
        error_rates({1: 11}, 10)


def test_confusion_matrix_rows_are_true_classes():
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    targets = torch.tensor([0, 0, 1, 2, 2, 1])
    cm = confusion_matrix(preds, targets, num_classes=4)
    expected = torch.tensor([[1, 1, 0, 0],
                             [0, 1, 1, 0],
                             [0, 0, 2, 0],
                             [0, 0, 0, 0]])
    assert cm.dtype == torch.long
    assert torch.equal(cm, expected)
    with pytest.raises(ResnetsError, match="class 4"):
        confusion_matrix(torch.tensor([4]), torch.tensor([0]), num_classes=4)


def test_per_class_accuracy_with_an_unseen_class():
    cm = torch.tensor([[1, 1, 0], [0, 3, 1], [0, 0, 0]])
    acc = per_class_accuracy(cm)
    assert acc[:2].tolist() == pytest.approx([0.5, 0.75])
    assert math.isnan(acc[2].item())


def test_running_average_weights_by_sample_count():
    meter = RunningAverage()
    assert math.isnan(meter.average)
    meter.update(1.0, n=3)
    meter.update(torch.tensor(5.0), n=1)
    assert meter.average == pytest.approx(2.0) and meter.count == 4
    copy = RunningAverage()
    copy.load_state_dict(meter.state_dict())
    assert copy.average == pytest.approx(2.0)
    meter.reset()
    assert meter.count == 0 and math.isnan(meter.average)


def _random_predictions(seed: int, n: int = 300, classes: int = 6):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=gen) * 3
    targets = torch.randint(0, classes, (n,), generator=gen)
    return logits, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_error_matches_torchmetrics(seed):
    from torchmetrics.classification import MulticlassCalibrationError

    logits, targets = _random_predictions(seed)
    expected = MulticlassCalibrationError(num_classes=6, n_bins=15, norm="l1")(
        logits.softmax(1), targets)
    # Two halves summed: the table adds up over batches.
    table = (metrics.calibration_bins(logits[:100], targets[:100])
             + metrics.calibration_bins(logits[100:], targets[100:]))
    assert table[:, 0].sum() == 300
    assert metrics.expected_calibration_error(table) == pytest.approx(float(expected), abs=1e-6)


def test_calibration_of_a_confident_right_model_is_zero_and_wrong_one_is_one():
    logits = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    right = metrics.calibration_bins(logits, torch.tensor([0, 1]))
    wrong = metrics.calibration_bins(logits, torch.tensor([1, 0]))
    assert metrics.expected_calibration_error(right) == pytest.approx(0.0, abs=1e-9)
    assert metrics.expected_calibration_error(wrong) == pytest.approx(1.0, abs=1e-9)
    assert right[-1, 0] == 2  # a confidence of 1 falls in the last bin
    curve = metrics.reliability(right)
    assert curve["count"][-1] == 2 and curve["accuracy"][-1] == 1.0
    assert math.isnan(curve["accuracy"][0]) and len(curve["lower"]) == 15


def test_calibration_of_nothing_is_nan():
    table = metrics.calibration_bins(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    assert math.isnan(metrics.expected_calibration_error(table))


@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_f1_match_torchmetrics(seed):
    from torchmetrics.classification import (MulticlassF1Score, MulticlassPrecision,
                                             MulticlassRecall)

    logits, targets = _random_predictions(seed, n=60, classes=7)
    preds = logits.argmax(1)
    preds[preds == 6] = 5  # class 6: never predicted (precision 0/0)
    targets[targets == 4] = 3  # class 4: never the truth (recall 0/0)
    cm = metrics.confusion_matrix(preds, targets, 7)
    ours = metrics.precision_recall_f1(cm)
    for name, cls in [("precision", MulticlassPrecision), ("recall", MulticlassRecall),
                      ("f1", MulticlassF1Score)]:
        theirs = cls(num_classes=7, average=None)(preds, targets)
        torch.testing.assert_close(ours[name].float(), theirs.float())
        macro = cls(num_classes=7, average="macro")(preds, targets)
        assert metrics.macro_average(ours[name], cm) == pytest.approx(float(macro), abs=1e-6)


def test_a_class_absent_everywhere_leaves_the_macro_average_alone():
    cm = torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    scores = metrics.precision_recall_f1(cm)
    assert scores["precision"].tolist() == [1.0, 2 / 3, 0.0]
    assert metrics.macro_average(scores["precision"], cm) == pytest.approx((1 + 2 / 3) / 2)
