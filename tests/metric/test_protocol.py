"""The verification and identification measures on hand-computed examples."""

import pytest
import torch

from resnets.metric.protocol import (best_threshold, identification, kfold_accuracy,
                                     leave_one_out, ranking_scores, roc_curve, tar_at_far)


def test_best_threshold_is_the_lowest_midpoint_of_the_best_accuracy():
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8, 0.9])
    same = torch.tensor([False, False, True, True, True])
    # sorted: .1 F, .35 T, .4 F, .8 T, .9 T. Splits: below .1 -> 3/5; .1|.35 -> 4/5;
    # .35|.4 -> 3/5; .4|.8 -> 4/5; .8|.9 -> 3/5; above .9 -> 2/5. Tie at 4/5: the lower one.
    assert best_threshold(scores, same) == pytest.approx((0.1 + 0.35) / 2)


def test_best_threshold_never_splits_equal_scores():
    scores = torch.tensor([0.5, 0.5, 0.2])
    same = torch.tensor([True, False, False])
    assert best_threshold(scores, same) == pytest.approx(0.35)  # 2/3, not 'half of 0.5'


def test_kfold_picks_each_folds_threshold_on_the_other_folds():
    # Three folds of two pairs (one genuine, one impostor).
    scores = torch.tensor([0.9, 0.2, 0.6, 0.5, 0.7, 0.65])
    same = torch.tensor([True, False, True, False, True, False])
    folds = torch.tensor([0, 0, 1, 1, 2, 2])
    result = kfold_accuracy(scores, same, folds)
    # Fold 0 trains on .6T .5F .7T .65F: sorted .5F .6T .65F .7T; best 3/4 at .5|.6 (0.55)
    # (and .65|.7); the lower, 0.55: fold 0 (.9 T, .2 F) -> 2/2.
    # Fold 1 trains on .9T .2F .7T .65F: best 4/4 at .65|.7 = 0.675: .6 T -> no, .5 F -> yes: 1/2.
    # Fold 2 trains on .9T .2F .6T .5F: best 4/4 at .5|.6 = 0.55: .7 T yes, .65 F no: 1/2.
    assert result.thresholds == pytest.approx([0.55, 0.675, 0.55])
    assert result.accuracies == pytest.approx([1.0, 0.5, 0.5])
    assert result.mean == pytest.approx(2 / 3)
    assert result.std == pytest.approx(((1 / 3) ** 2 + 2 * (1 / 6) ** 2) ** 0.5 / 3 ** 0.5)


def test_tar_at_far_accepts_at_most_that_share_of_impostors():
    impostors = torch.linspace(0, 0.99, 100)  # 100 impostor scores 0 .. 0.99
    genuine = torch.tensor([0.5, 0.96, 0.985, 0.995, 1.0])
    scores = torch.cat([impostors, genuine])
    same = torch.cat([torch.zeros(100, dtype=torch.bool), torch.ones(5, dtype=torch.bool)])
    # FAR 0.02: two impostors may pass; the threshold is the 3rd largest impostor, 0.97:
    # genuine above it are 0.985, 0.995, 1.0.
    assert tar_at_far(scores, same, 0.02) == pytest.approx(3 / 5)
    # FAR 1e-3 with 100 impostors: none may pass; above 0.99: 0.995 and 1.0.
    assert tar_at_far(scores, same, 1e-3) == pytest.approx(2 / 5)


def test_roc_curve_runs_from_the_highest_score_down():
    scores = torch.tensor([0.9, 0.8, 0.3, 0.1])
    same = torch.tensor([True, False, True, False])
    thresholds, fars, tars = roc_curve(scores, same)
    assert thresholds == pytest.approx([0.9, 0.8, 0.3, 0.1])
    assert fars == [0.0, 0.5, 0.5, 1.0] and tars == [0.5, 0.5, 1.0, 1.0]


def test_ranking_rank1_and_map_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.7, 0.5], [0.3, 0.2, 0.1]])
    relevant = torch.tensor([[False, True, True], [True, False, False],
                             [False, False, False]])
    # Query 0 ranks 0, 1, 2: hits at ranks 2 and 3 -> AP (1/2 + 2/3) / 2; not rank-1.
    # Query 1 ranks 1, 2, 0: hit at rank 3 -> AP 1/3. Query 2 has no relevant item: left out.
    rank1, mean_ap = ranking_scores(scores, relevant)
    assert rank1 == 0.0
    assert mean_ap == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 3) / 2)


def test_identification_against_a_one_image_gallery():
    gallery = torch.eye(3)
    probes = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 0.9], [0.6, 0.8, 0.0]])
    probe_labels = torch.tensor([0, 1, 1])
    rank1, mean_ap = identification(probes, probe_labels, gallery, torch.arange(3))
    # probe 0: top is 0 (right); probe 1: ranks 2, 1 -> 1/2; probe 2: top is 1 (right).
    assert rank1 == pytest.approx(2 / 3)
    assert mean_ap == pytest.approx((1 + 0.5 + 1) / 3)


def test_leave_one_out_never_retrieves_the_query_itself():
    e = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    recall1, mean_ap = leave_one_out(e, labels)
    # sample 0 has no other of its identity; 1 finds 2 (0.6) after 0 (0.8): AP 1/2;
    # 2 finds 1 first: AP 1.
    assert recall1 == pytest.approx(0.5)
    assert mean_ap == pytest.approx(0.75)
