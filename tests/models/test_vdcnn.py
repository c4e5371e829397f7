"""Conneau et al.'s VDCNN: k-max pooling, sizes counted by hand, shortcuts, a training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnets.errors import ResnetsError
from resnets.models import create_model, list_models, model_info
from resnets.models.summary import count_params
from resnets.models.vdcnn import k_max_pool


def test_k_max_pooling_keeps_the_largest_values_in_order():
    x = torch.tensor([[[3.0, 1, 4, 1, 5, 9, 2, 6]]])
    assert k_max_pool(x, 3).tolist() == [[[5.0, 9.0, 6.0]]]
    with pytest.raises(ResnetsError, match="at least 9 time steps"):
        k_max_pool(x, 9)


def conv_block(c_in: int, c_out: int) -> int:
    """Two bias-free size-3 convolutions and two BNs (scale and shift)."""
    return 3 * c_in * c_out + 3 * c_out * c_out + 4 * c_out


def test_parameter_count_by_hand():
    assert list_models(modality="text") == ["vdcnn9", "vdcnn17", "vdcnn29"]
    assert model_info("vdcnn9").input_shape == (1014,)
    vocab, classes = 71, 4
    embed_and_first = vocab * 16 + 3 * 16 * 64
    blocks = (conv_block(64, 64) + conv_block(64, 128) + conv_block(128, 256)
              + conv_block(256, 512))
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in [(64, 128), (128, 256),
                                                                    (256, 512)])
    head = 4096 * 2048 + 2048 + 2048 * 2048 + 2048 + 2048 * classes + classes
    expected = embed_and_first + blocks + projections + head
    assert count_params(create_model("vdcnn9")) == expected
    assert count_params(create_model("vdcnn9", shortcut="none")) == expected - projections
    assert count_params(create_model("vdcnn9", shortcut="A")) == expected - projections
    # 17 layers: one more block per stage; 29: three more of 64 and of 128 maps than 17.
    assert count_params(create_model("vdcnn17")) == expected + conv_block(64, 64) + \
        conv_block(128, 128) + conv_block(256, 256) + conv_block(512, 512)
    assert count_params(create_model("vdcnn29")) - count_params(create_model("vdcnn17")) == \
        3 * conv_block(64, 64) + 3 * conv_block(128, 128)


def test_time_axis_halves_per_stage_and_in_chans_is_the_vocabulary():
    model = create_model("vdcnn9", num_classes=3, in_chans=40)
    tokens = torch.randint(0, 40, (2, 1014))
    maps = model.forward_intermediates(tokens, intermediates_only=True)
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 1014), (64, 1014), (128, 507),
                                                  (256, 254), (512, 127)]  # stem, 4 stages
    assert model(tokens).shape == (2, 3)
    assert model.embed.num_embeddings == 40
    assert model.forward_head(maps[-1], pre_logits=True).shape == (2, 2048)


@pytest.mark.parametrize("name", ["vdcnn9", "vdcnn17", "vdcnn29"])
def test_one_training_step(name):
    model = create_model(name, num_classes=2, hidden=64)
    tokens = torch.randint(0, 71, (4, 64))
    tokens[:, -5:] = 0  # padding
    labels = torch.tensor([0, 1, 1, 0])
    before = [p.detach().clone() for p in model.parameters()]
    loss = F.cross_entropy(model(tokens), labels)
    loss.backward()
    assert model.embed.weight.grad[0].abs().sum() == 0  # the padding id learns nothing
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    changed = [not torch.equal(b, p) for b, p in zip(before, model.parameters())]
    assert sum(changed) == len(changed)


def test_errors():
    with pytest.raises(ResnetsError, match="unknown shortcut"):
        create_model("vdcnn9", shortcut="D")
    with pytest.raises(ResnetsError, match="fixes 'depth'"):
        create_model("vdcnn9", depth=17)
    with pytest.raises(ResnetsError, match="zero_init_residual"):
        create_model("vdcnn9", zero_init_residual=True)
