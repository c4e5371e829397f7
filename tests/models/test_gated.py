"""Gated ResNets: hard 0/1 gates at evaluation that really skip their branches, counted MACs
equal to a hand computation, straight-through gradients into the gates, one-line errors."""

import pytest
import torch
from torch import nn

from resnets.errors import ResnetsError
from resnets.models import create_model
from resnets.models.gated import GatedResNet, gate_decisions, gated_blocks
from resnets.train.gates import block_costs, gate_statistics, rate_loss


class FixedLogits(nn.Module):
    """A gate that executes exactly the images ``on`` says, whatever they show."""

    def __init__(self, on: list[int]) -> None:
        super().__init__()
        self.on = torch.tensor(on, dtype=torch.bool)

    def forward(self, x):
        logits = torch.zeros(len(x), 2)
        if len(x) == len(self.on):  # (other batches: the block is forced on or off)
            logits[:, 1] = torch.where(self.on, 1.0, -1.0)
        return logits


# Decisions of the three blocks of an 8-layer gated net (blocks x images).
ON = [[1, 0, 1, 1], [0, 0, 1, 0], [1, 0, 0, 1]]


def tiny_net():
    model = create_model("cifar_resnet_gated", depth=8, num_classes=10).eval()
    for (_, block), on in zip(gated_blocks(model), ON):
        block.gate = FixedLogits(on)
    return model


def test_registered_models_are_gated_resnets_of_their_depth():
    for name, blocks in (("resnet20_gated", 9), ("resnet56_gated", 27)):
        model = create_model(name)
        assert isinstance(model, GatedResNet) and len(model.gated_blocks()) == blocks


def test_eval_gates_are_hard_and_skipped_branches_really_skip():
    torch.manual_seed(0)
    model, x = tiny_net(), torch.randn(4, 3, 8, 8)
    seen = []  # the batch each block's first convolution is given
    for _, block in gated_blocks(model):
        block.conv1.register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    with torch.no_grad():
        logits = model(x)
    assert gate_decisions(model).tolist() == ON  # exactly 0 or 1
    assert seen == [sum(on) for on in ON]  # the skipped images never reach the branch
    with torch.no_grad():  # each image as the net with its own decisions forced on or off
        for i in range(4):
            for (_, block), on in zip(gated_blocks(model), ON):
                block.forced = float(on[i])
            assert torch.allclose(model(x[i:i + 1])[0], logits[i], atol=1e-5)


def test_counted_macs_equal_a_hand_computation():
    model = tiny_net()
    stem, head = 8 * 8 * 3 * 9 * 16, 64 * 10
    gates = (16 * 16 + 16 * 2) * 2 + (32 * 16 + 16 * 2)  # pool -> 16 -> 2, per block
    branches = [2 * 8 * 8 * 9 * 16 * 16,  # 16 -> 16 at 8x8, two 3x3 convolutions
                4 * 4 * 9 * 16 * 32 + 4 * 4 * 9 * 32 * 32,  # 16 -> 32, stride 2
                2 * 2 * 9 * 32 * 64 + 2 * 2 * 9 * 64 * 64]
    real = create_model("cifar_resnet_gated", depth=8, num_classes=10)
    assert block_costs(real, 8, 3) == (stem + gates + head, branches)
    gates = 0  # the fixed gates of tiny_net compute nothing
    assert block_costs(model, 8, 3) == (stem + head, branches)
    batches = [(torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))]
    stats = gate_statistics(model, batches, torch.device("cpu"), block_costs(model, 8, 3))
    per_image = [stem + gates + head + sum(b for b, on in zip(branches, col) if on)
                 for col in zip(*ON)]
    assert stats["macs_per_image"] == sum(per_image) / 4
    assert (stats["macs_min"], stats["macs_max"]) == (min(per_image), max(per_image))
    assert stats["macs_all_blocks"] == stem + gates + head + sum(branches)
    assert stats["executed_per_block"] == [0.75, 0.25, 0.5]
    assert stats["executed_mean"] == pytest.approx(0.5)


def test_straight_through_gradient_reaches_every_gate():
    torch.manual_seed(0)
    model = create_model("cifar_resnet_gated", depth=8, num_classes=10).train()
    logits = model(torch.randn(8, 3, 8, 8))
    decisions = gate_decisions(model)
    assert set(decisions.flatten().tolist()) <= {0.0, 1.0}  # hard in the forward pass
    (logits.square().mean() + rate_loss(decisions, 0.3)).backward()
    for name, block in gated_blocks(model):
        for p in block.gate.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_rate_loss_is_the_mean_squared_distance_of_each_gates_rate_to_the_target():
    decisions = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])  # rates .75, .25
    assert rate_loss(decisions, 0.5).item() == pytest.approx((0.25 ** 2 + 0.25 ** 2) / 2)
    assert rate_loss(decisions, 0.75).item() == pytest.approx((0 + 0.5 ** 2) / 2)


def test_a_plain_gated_block_is_one_line():
    with pytest.raises(ResnetsError, match="plain block has none: drop shortcut=none"):
        create_model("resnet20_gated", shortcut="none")


def test_gates_before_any_forward_pass_are_one_line():
    with pytest.raises(ResnetsError, match="has not decided yet"):
        gate_decisions(create_model("resnet20_gated"))


def test_the_registry_table_counts_a_gated_net_with_every_block_and_its_gates():
    from resnets.models.summary import count_macs

    gates = sum(b.gate.fc1.in_features * 16 + 16 * 2
                for _, b in gated_blocks(create_model("resnet20_gated")))
    assert count_macs("resnet20_gated") == count_macs("resnet20") + gates
