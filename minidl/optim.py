"""A base for optimizers written from scratch, shaped like ``torch.optim.Optimizer``.

It keeps ``param_groups`` and per-parameter ``state`` the way torch does, so schedules,
checkpoints and the Trainer treat both alike, without torch's per-step profiling
wrapper (which costs more than a small model's whole update).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class ManualOptimizer:
    """Holds parameters in ``param_groups`` and their ``state``; subclasses define ``step``.

    ``state`` maps a parameter's position (in group order) to a dict of tensors.
    """

    def __init__(self, params: Iterable[torch.Tensor], defaults: dict[str, Any]) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = [{"params": params, **defaults}]
        self.state: dict[int, dict[str, Any]] = {}

    def step(self) -> None:
        """Update every parameter from its gradient."""
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients, as ``torch.optim.Optimizer.zero_grad`` does."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.zero_()

    def indexed_params(self) -> Iterable[tuple[int, torch.Tensor, dict[str, Any]]]:
        """Yield ``(index, parameter, group)`` for every parameter with a gradient."""
        index = 0
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    yield index, param, group
                index += 1

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters of each group and the per-parameter state."""
        groups = []
        index = 0
        for group in self.param_groups:
            count = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(index, index + count))})
            index += count
        state = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                 for i, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameters)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state has a different number of parameter groups")
        for group, saved in zip(self.param_groups, groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state has a different number of parameters")
            group.update({k: v for k, v in saved.items() if k != "params"})
        device = self.param_groups[0]["params"][0].device
        self.state = {int(i): {k: v.to(device) if torch.is_tensor(v) else v for k, v in s.items()}
                      for i, s in state_dict["state"].items()}
