"""Layer-wise adaptive optimisers for large batches: LARS and LAMB.

``torch.optim`` has neither, so they are written here (timm's versions are the reference the
tests compare with, step for step). Both scale each parameter tensor's step by a trust ratio
of its weight norm to its update norm, so that every layer moves by a similar fraction of its
size whatever the batch. Groups whose ``adapt`` is False (the norm parameters and biases,
which :func:`resnets.train.optim.build_optimizer` also leaves undecayed) take the plain step.

* LARS (You, Gitman and Ginsburg 2017, arXiv:1708.03888): SGD with momentum on
  ``trust * (g + wd * w)``, ``trust = coeff * ||w|| / (||g|| + wd * ||w|| + eps)``.
* LAMB (You et al. 2020, arXiv:1904.00962): Adam's bias-corrected moments, the update
  ``m / (sqrt(v) + eps) + wd * w``, scaled by ``||w|| / ||update||``.

A ratio whose weight or update norm is zero is 1 (a layer initialised to zero still moves).
"""

from __future__ import annotations

import torch


def trust_ratio(numerator: torch.Tensor, denominator: torch.Tensor,
                w_norm: torch.Tensor, u_norm: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, or 1 where the weight or update norm is zero."""
    ok = (w_norm > 0) & (u_norm > 0)
    return torch.where(ok, numerator / denominator, torch.ones_like(numerator))


class LayerwiseOptimizer(torch.optim.Optimizer):
    """Steps each parameter with a gradient through ``update(p, group, state)``."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, group, self.state[p])
        return loss

    def update(self, p: torch.Tensor, group: dict, state: dict) -> None:
        raise NotImplementedError


class LARS(LayerwiseOptimizer):
    """LARS: layer-wise adaptive rate scaling of momentum SGD."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 nesterov: bool = False, trust_coeff: float = 0.001, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, trust_coeff=trust_coeff, eps=eps,
                                      adapt=True))

    def update(self, p: torch.Tensor, group: dict, state: dict) -> None:
        wd, momentum, grad = group["weight_decay"], group["momentum"], p.grad
        if group["adapt"]:
            w_norm, g_norm = p.norm(), grad.norm()
            trust = trust_ratio(group["trust_coeff"] * w_norm,
                                g_norm + wd * w_norm + group["eps"], w_norm, g_norm)
            grad = grad.add(p, alpha=wd).mul_(trust)
        elif wd:
            grad = grad.add(p, alpha=wd)
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.clone()
            else:
                state["momentum_buffer"].mul_(momentum).add_(grad)
            buf = state["momentum_buffer"]
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad, alpha=-group["lr"])


class LAMB(LayerwiseOptimizer):
    """LAMB: layer-wise adaptive moments (Adam with a per-tensor trust ratio)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      adapt=True))

    def update(self, p: torch.Tensor, group: dict, state: dict) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m.lerp_(p.grad, 1 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        denom = (v.sqrt() / (1 - beta2 ** t) ** 0.5).add_(group["eps"])
        update = (m / (1 - beta1 ** t)).div_(denom)
        if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
        if group["adapt"]:
            w_norm, u_norm = p.norm(), update.norm()
            update.mul_(trust_ratio(w_norm, u_norm, w_norm, u_norm))
        p.add_(update, alpha=-group["lr"])
