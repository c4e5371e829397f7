import dataclasses
import math

import pytest
import torch

from resnets.errors import ResnetsError
from resnets.train.schedules import (ErrorGatedWarmup, ScheduleConfig, apply_lr, cosine_lr,
                                     cyclic_lr, linear_warmup, lr_at, multistep_lr, step_lr)


@pytest.mark.parametrize("it, expected", [
    (0, 0.1), (31999, 0.1), (32000, 0.01), (47999, 0.01), (48000, 0.001), (63999, 0.001),
])
def test_step_lr_is_the_paper_cifar_schedule(it, expected):
    assert step_lr(it, 0.1, (32000, 48000)) == pytest.approx(expected, rel=1e-12)


def test_step_lr_custom_gamma():
    assert step_lr(10, 1.0, [5, 10], gamma=0.5) == 0.25
    assert step_lr(4, 1.0, [5, 10], gamma=0.5) == 1.0


def test_multistep_lr_counts_epochs():
    # 100 steps per epoch, drops at epochs 30 and 60: iterations 3000 and 6000
    assert multistep_lr(2999, 0.1, (30, 60), 100, 0.1) == pytest.approx(0.1)
    assert multistep_lr(3000, 0.1, (30, 60), 100, 0.1) == pytest.approx(0.01)
    assert multistep_lr(5999, 0.1, (30, 60), 100, 0.1) == pytest.approx(0.01)
    assert multistep_lr(6000, 0.1, (30, 60), 100, 0.1) == pytest.approx(0.001)


def test_cosine_lr_endpoints_midpoint_and_clamp():
    assert cosine_lr(0, 0.1, 1000) == pytest.approx(0.1)
    assert cosine_lr(500, 0.1, 1000) == pytest.approx(0.05)
    assert cosine_lr(250, 1.0, 1000) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_lr(1000, 0.1, 1000, min_lr=0.001) == pytest.approx(0.001)
    assert cosine_lr(5000, 0.1, 1000, min_lr=0.001) == pytest.approx(0.001)
    assert cosine_lr(500, 0.1, 1000, min_lr=0.02) == pytest.approx(0.06)


def test_linear_warmup_ramps_to_full_lr():
    values = [linear_warmup(i, 4, 1.0) for i in range(6)]
    assert values == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert linear_warmup(0, 4, 2.0, start_factor=0.2) == pytest.approx(2.0 * (0.2 + 0.8 / 4))
    assert linear_warmup(3, 0, 0.3) == 0.3


def test_lr_at_dispatches_each_schedule():
    step = ScheduleConfig(name="step", milestones=(10, 20))
    assert lr_at(10, step, steps_per_epoch=7, total_iters=30, base_lr=0.1) == pytest.approx(0.01)
    multi = ScheduleConfig(name="multistep", milestone_epochs=(2,), gamma=0.5)
    assert lr_at(13, multi, 7, 30, 0.1) == pytest.approx(0.1)
    assert lr_at(14, multi, 7, 30, 0.1) == pytest.approx(0.05)
    cos = ScheduleConfig(name="cosine", min_lr=0.01)
    assert lr_at(15, cos, 7, 30, 0.1) == pytest.approx(0.055)
    const = ScheduleConfig(name="constant")
    assert lr_at(10 ** 6, const, 7, 30, 0.1) == 0.1


def test_lr_at_warmup_modes_do_not_shift_the_schedule():
    linear = ScheduleConfig(name="cosine", warmup_iters=10)
    plain = ScheduleConfig(name="cosine")
    assert lr_at(4, linear, 1, 100, 0.1) == pytest.approx(cosine_lr(4, 0.1, 100) * 0.5)
    assert lr_at(10, linear, 1, 100, 0.1) == lr_at(10, plain, 1, 100, 0.1)
    # He et al. 2016: 0.01 for the first 400 iterations, then the step schedule from 0.1
    preact = ScheduleConfig(name="step", warmup_iters=400, warmup_mode="constant",
                            warmup_lr=0.01)
    assert lr_at(0, preact, 391, 64000, 0.1) == 0.01
    assert lr_at(399, preact, 391, 64000, 0.1) == 0.01
    assert lr_at(400, preact, 391, 64000, 0.1) == pytest.approx(0.1)
    ramp = ScheduleConfig(name="constant", warmup_iters=2, warmup_lr=0.02)
    assert lr_at(0, ramp, 1, 10, 0.1) == pytest.approx(0.1 * (0.2 + 0.8 * 0.5))


@pytest.mark.parametrize("changes, words", [
    ({"name": "cosin"}, "did you mean 'cosine'"),
    ({"name": "steps"}, "did you mean 'step'"),
    ({"warmup_mode": "linar"}, "did you mean 'linear'"),
    ({"name": "step", "milestones": ()}, "schedule.milestones is empty"),
    ({"milestones": (48000, 32000)}, "strictly increasing"),
    ({"milestone_epochs": (0, 30)}, r"list of integers in \[1, "),
    ({"gamma": 0.0}, "schedule.gamma"),
    ({"gamma": 2.0}, "schedule.gamma"),
    ({"warmup_iters": -1}, "schedule.warmup_iters"),
    ({"warmup_until_error": 80.0, "warmup_lr": 0.01}, r"in \[0, 1\], got 80.0"),
    ({"warmup_until_error": 0.8}, "set it above 0"),
    ({"warmup_mode": "constant", "warmup_iters": 400}, "set it above 0"),
])
def test_schedule_config_rejects_bad_values_in_one_line(changes, words):
    with pytest.raises(ResnetsError, match=words) as info:
        dataclasses.replace(ScheduleConfig(), **changes)
    assert "\n" not in str(info.value)


def test_lr_at_rejects_min_lr_above_base_and_nonpositive_lr():
    with pytest.raises(ResnetsError, match="min_lr"):
        lr_at(0, ScheduleConfig(min_lr=0.5), 1, 10, 0.1)
    with pytest.raises(ResnetsError, match="positive"):
        lr_at(0, ScheduleConfig(), 1, 10, 0.0)


def test_schedule_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ScheduleConfig().name = "step"  # type: ignore[misc]


def test_error_gated_warmup_holds_warm_lr_until_error_drops():
    gate = ErrorGatedWarmup(warm_lr=0.01, threshold=0.8)
    assert gate.factor_or_lr(0.1) == 0.01
    assert gate.update(0.9) is True
    assert gate.update(0.8) is True  # "below 80%" is strict
    assert gate.update(float("nan")) is True
    assert gate.factor_or_lr(0.1) == 0.01
    assert gate.factor_or_lr(0.001) == 0.001  # never raises the scheduled lr
    assert gate.update(0.79) is False
    assert gate.factor_or_lr(0.1) == 0.1
    assert gate.update(0.95) is False  # the gate stays open once training has started
    assert gate.factor_or_lr(0.1) == 0.1


def test_error_gated_warmup_state_round_trip_and_config():
    gate = ErrorGatedWarmup(0.01, 0.8)
    gate.update(0.5)
    fresh = ErrorGatedWarmup(0.01, 0.8)
    fresh.load_state_dict(gate.state_dict())
    assert fresh.active is False and fresh.factor_or_lr(0.1) == 0.1
    assert ErrorGatedWarmup.from_config(ScheduleConfig()) is None
    built = ErrorGatedWarmup.from_config(ScheduleConfig(warmup_lr=0.02, warmup_until_error=0.7))
    assert (built.warm_lr, built.threshold, built.active) == (0.02, 0.7, True)
    with pytest.raises(ResnetsError):
        ErrorGatedWarmup(warm_lr=0.0)
    with pytest.raises(ValueError):
        gate.update(80.0)


def test_apply_lr_respects_lr_scale():
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr_scale": 0.1}], lr=1.0)
    apply_lr(opt, 0.5)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])


def test_cyclic_lr_triangle_by_hand():
    # 10 steps, peak at 40%: steps end at t = 0.1 .. 1.0
    lrs = [cyclic_lr(i, 0.2, 10, peak=0.4) for i in range(10)]
    expected = [0.05, 0.10, 0.15, 0.20, 0.2 * 5 / 6, 0.2 * 4 / 6, 0.2 * 3 / 6, 0.2 * 2 / 6,
                0.2 / 6, 0.0]
    assert lrs == pytest.approx(expected)
    assert cyclic_lr(50, 0.2, 10) == 0.0  # held at the end
    cfg = ScheduleConfig(name="cyclic", cycle_peak=0.5)
    assert lr_at(4, cfg, 5, 10, 1.0) == pytest.approx(1.0)
    with pytest.raises(ResnetsError, match="cycle_peak"):
        ScheduleConfig(name="cyclic", cycle_peak=1.0)


def test_warmup_in_epochs_is_warmup_of_as_many_steps():
    by_epochs = ScheduleConfig(name="cosine", warmup_epochs=2, warmup_lr=0.01)
    by_steps = ScheduleConfig(name="cosine", warmup_iters=14, warmup_lr=0.01)
    values = [lr_at(it, by_epochs, 7, 70, 0.5) for it in range(20)]
    assert values == [lr_at(it, by_steps, 7, 70, 0.5) for it in range(20)]
    assert values[0] < 0.05 and values[14] == lr_at(14, ScheduleConfig(name="cosine"), 7, 70, 0.5)
    with pytest.raises(ResnetsError, match="not both"):
        ScheduleConfig(warmup_iters=5, warmup_epochs=1)
