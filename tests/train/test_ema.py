import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.train.ema import ModelEMA, unwrap_model


def _tiny():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    _set(model, weight=2.0, mean=0.0)
    return model


def _set(model, weight, mean, batches=0):
    with torch.no_grad():
        model[0].weight.fill_(weight)
        model[1].running_mean.fill_(mean)
        model[1].num_batches_tracked.fill_(batches)


def _ema_weight(ema):
    return ema.module[0].weight.item()


def test_three_updates_match_hand_computation_without_warmup():
    model = _tiny()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    for step, (w, mean) in enumerate([(4.0, 1.0), (0.0, 3.0), (8.0, -1.0)], start=1):
        _set(model, w, mean, batches=step)
        ema.update(model)
    # by hand: weights 2 -> 3 -> 1.5 -> 4.75; running means 0 -> 0.5 -> 1.75 -> 0.375
    assert _ema_weight(ema) == pytest.approx(4.75)
    assert ema.module[1].running_mean.item() == pytest.approx(0.375)
    assert ema.module[1].num_batches_tracked.item() == 3  # integers are copied
    assert ema.updates == 3


def test_warmup_uses_the_smaller_decay_early():
    model = _tiny()
    ema = ModelEMA(model, decay=0.9999)
    decays = [ema.decay_at(n) for n in (1, 2, 3)]
    assert decays == pytest.approx([2 / 11, 3 / 12, 4 / 13])
    expected = 2.0
    for w, d in zip([4.0, 0.0, 8.0], decays):
        _set(model, w, 0.0)
        ema.update(model)
        expected = d * expected + (1 - d) * w
    assert _ema_weight(ema) == pytest.approx(expected)
    assert ema.decay_at(10 ** 9) == 0.9999


def test_buffers_copied_when_not_averaged():
    model = _tiny()
    ema = ModelEMA(model, decay=0.5, warmup=False, average_buffers=False)
    _set(model, 4.0, 7.0)
    ema.update(model)
    assert ema.module[1].running_mean.item() == 7.0
    assert _ema_weight(ema) == pytest.approx(3.0)


def test_module_is_an_independent_frozen_eval_copy():
    model = _tiny().train()
    ema = ModelEMA(model, decay=0.5)
    _set(model, 100.0, 0.0)
    assert _ema_weight(ema) == 2.0
    assert not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())


def test_tied_parameter_is_averaged_once():
    shared = nn.Linear(1, 1, bias=False)
    model = nn.Sequential(shared, shared)
    with torch.no_grad():
        shared.weight.fill_(0.0)
    ema = ModelEMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        shared.weight.fill_(1.0)
    ema.update(model)
    assert ema.module[0].weight.item() == pytest.approx(0.5)  # not 0.75


def test_state_dict_round_trip():
    model = _tiny()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    _set(model, 4.0, 1.0)
    ema.update(model)
    other = ModelEMA(_tiny(), decay=0.5, warmup=False)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1 and _ema_weight(other) == pytest.approx(3.0)
    assert other.module[1].running_mean.item() == pytest.approx(0.5)


def test_unwraps_data_parallel_and_rejects_another_model():
    model = _tiny()
    wrapped = nn.DataParallel(model)
    assert unwrap_model(wrapped) is model
    ema = ModelEMA(wrapped, decay=0.5, warmup=False)
    assert "0.weight" in ema.module.state_dict()
    with pytest.raises(ResnetsError, match="not the one"):
        ema.update(nn.Linear(1, 1))


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_bad_decay_is_refused(decay):
    with pytest.raises(ResnetsError, match="decay"):
        ModelEMA(_tiny(), decay=decay)
