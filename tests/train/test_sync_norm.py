"""GlobalBatchNorm: two Gloo processes with half a batch each normalise, differentiate and
update running statistics exactly as one BatchNorm does over the whole batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from resnets.train.sync_norm import GlobalBatchNorm, convert_to_global_batchnorm

CASES = {  # name: (input shape, BatchNorm class, memory format)
    "2d": ((8, 3, 5, 5), nn.BatchNorm2d, torch.contiguous_format),
    "2d-channels-last": ((8, 4, 3, 6), nn.BatchNorm2d, torch.channels_last),
    "1d": ((8, 5), nn.BatchNorm1d, torch.contiguous_format),
}


def make_inputs(shape, fmt):
    gen = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(shape, generator=gen) + 1).contiguous(memory_format=fmt)
    upstream = torch.randn(shape, generator=gen)  # dLoss/dOutput: a non-trivial loss
    return x, upstream


def make_norm(cls, channels):
    norm = cls(channels, momentum=0.3)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(1))
        norm.bias.uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
    return norm


def step(norm, x, upstream):
    """Two training passes (the running statistics compound), then an evaluation pass."""
    x = x.clone().requires_grad_(True)
    for _ in range(2):
        out = norm(x)
        (out * upstream).sum().backward()
    norm.eval()
    return out.detach(), x.grad, norm(x).detach(), norm


def rank_main(rank, name, init_file, results):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=2)
    try:
        shape, cls, fmt = CASES[name]
        x, upstream = make_inputs(shape, fmt)
        half = slice(rank * shape[0] // 2, (rank + 1) * shape[0] // 2)
        norm = convert_to_global_batchnorm(make_norm(cls, shape[1]))
        out, grad_x, evaluated, norm = step(norm, x[half], upstream[half])
        grads = torch.stack([norm.weight.grad, norm.bias.grad])
        dist.all_reduce(grads)  # the loss is the sum over both processes
        torch.save({"out": out, "grad_x": grad_x, "grads": grads, "eval": evaluated,
                    "state": norm.state_dict(), "type": type(norm).__name__},
                   f"{results}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_processes_normalise_like_one_batchnorm_over_the_whole_batch(tmp_path, name):
    shape, cls, fmt = CASES[name]
    x, upstream = make_inputs(shape, fmt)
    out, grad_x, evaluated, ref = step(make_norm(cls, shape[1]), x, upstream)
    mp.spawn(rank_main, args=(name, tmp_path / "store", tmp_path), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert {r["type"] for r in ranks} == {"GlobalBatchNorm"}
    close = {"atol": 1e-5, "rtol": 1e-5}
    torch.testing.assert_close(torch.cat([r["out"] for r in ranks]), out, **close)
    torch.testing.assert_close(torch.cat([r["grad_x"] for r in ranks]), grad_x, **close)
    torch.testing.assert_close(ranks[0]["grads"], torch.stack([ref.weight.grad, ref.bias.grad]),
                               **close)
    torch.testing.assert_close(torch.cat([r["eval"] for r in ranks]), evaluated, **close)
    for r in ranks:
        assert r["state"].keys() == ref.state_dict().keys()
        for key, value in ref.state_dict().items():
            torch.testing.assert_close(r["state"][key], value, **close)
    # Each half alone has other statistics: the comparison above has teeth.
    alone = make_norm(cls, shape[1])(x[: shape[0] // 2])
    assert (alone - out[: shape[0] // 2]).abs().max() > 1e-2


def test_alone_it_is_batchnorm_and_conversion_keeps_the_tensors():
    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.Sequential(nn.BatchNorm2d(4)))

    model, reference = build(), build()
    before = model.state_dict(keep_vars=True)
    assert convert_to_global_batchnorm(model) is model
    assert isinstance(model[1], GlobalBatchNorm) and isinstance(model[3][0], GlobalBatchNorm)
    after = model.state_dict(keep_vars=True)
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)  # the optimiser's tensors
    assert not dist.is_initialized()
    x = torch.randn(6, 3, 7, 7)
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    for key, value in reference.state_dict().items():  # running statistics updated alike
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    assert isinstance(convert_to_global_batchnorm(nn.BatchNorm1d(3)), GlobalBatchNorm)


def test_frozen_stages_keep_their_own_batchnorm():
    from resnets import create_model
    from resnets.train.distributed import sync_batchnorm
    from resnets.train.finetune import freeze_stages

    for cuda, layer in ((False, GlobalBatchNorm), (True, nn.SyncBatchNorm)):
        model = create_model("resnet18", num_classes=3)
        freeze_stages(model, 1)  # the stem and layer1
        sync_batchnorm(model, cuda=cuda)
        assert type(model.bn1) is nn.BatchNorm2d and model.bn1.frozen_stats
        assert type(model.layer1[0].bn1) is nn.BatchNorm2d
        assert type(model.layer2[0].bn1) is layer
        if not cuda:  # alone, GlobalBatchNorm is BatchNorm: a forward pass can run here
            before = model.bn1.running_mean.clone()
            model.train()(torch.randn(2, 3, 32, 32))
            assert torch.equal(model.bn1.running_mean, before)  # still frozen
