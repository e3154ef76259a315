"""Routing for MoE-LoRA: gates from router logits, the shared routing context, and load-balancing statistics."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def gates_from_logits(logits: torch.Tensor, top_k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn router logits into expert gates.

    Args:
        logits: ``(..., E)`` router logits (any float dtype; computed on in float32).
        top_k: experts kept per row; `None` keeps all (dense soft routing).

    Returns:
        ``(gates, probs)``, both float32 ``(..., E)``: ``probs`` is the softmax over all experts; ``gates`` equals
        ``probs`` for dense routing, else the top-k probabilities renormalised to sum to one and zeros elsewhere.
    """
    probs = torch.softmax(logits.float(), dim=-1)
    if top_k is None:
        return probs, probs
    values, index = probs.topk(top_k, dim=-1)
    values = values / values.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, index, values), probs


class RoutingContext:
    """Routing inputs shared by every MoE-LoRA layer of one model, captured at each model forward.

    The model's forward pre-hook increments ``forward_id`` and captures ``token_mask`` (the attention mask) and
    ``task_ids`` (the call's ``task_ids`` keyword, else ``scoped_task_ids`` set by ``route_tasks(...)`` or
    ``generate(task_ids=...)``). The values stay after the forward, so that non-reentrant gradient checkpointing
    recomputes the same routing during backward.
    """

    def __init__(self) -> None:
        self.token_mask: torch.Tensor | None = None
        self.task_ids: torch.Tensor | None = None
        self.scoped_task_ids: torch.Tensor | None = None
        self.forward_id = 0


@dataclass
class RouterStats:
    """Routing statistics of one layer and adapter for the last forward.

    Attributes:
        load: ``(E,)`` fraction of the (non-padding) tokens routed to each expert (top-k membership; argmax for
            dense routing); sums to ``top_k`` (1 for dense). No gradient.
        importance: ``(E,)`` mean router probability per expert over the same tokens (carries the gradient).
        z: mean squared log-sum-exp of the router logits over the same tokens.
        tokens: number of tokens counted.
    """

    load: torch.Tensor
    importance: torch.Tensor
    z: torch.Tensor
    tokens: torch.Tensor

    def balance_loss(self) -> torch.Tensor:
        """Return ``E * sum_i load_i * importance_i`` (``top_k`` when perfectly balanced, 1 for dense)."""
        return self.load.numel() * (self.load * self.importance).sum()


def router_stats(
    logits: torch.Tensor, probs: torch.Tensor, gates: torch.Tensor, weights: torch.Tensor | None, dense: bool
) -> RouterStats:
    """Compute :class:`RouterStats` from per-row router outputs.

    Args:
        logits: ``(M, E)`` router logits.
        probs: ``(M, E)`` float32 softmax probabilities.
        gates: ``(M, E)`` gates (non-zero where an expert is selected).
        weights: ``(M,)`` number of real tokens each row stands for (1/0 for a token and a padding token, the token
            count of a sample for task routing); `None` counts every row once.
        dense: the routing is dense, so "routed to" means the argmax expert.
    """
    if dense:
        selected = torch.zeros_like(probs).scatter(-1, probs.argmax(-1, keepdim=True), 1.0)
    else:
        selected = (gates > 0).float()
    if weights is None:
        weights = torch.ones(probs.shape[0], device=probs.device)
    weights = weights.float()
    total = weights.sum()
    denom = total.clamp(min=1.0)
    z_rows = torch.logsumexp(logits.float(), dim=-1).square()
    return RouterStats(
        load=(selected * weights[:, None]).sum(0).detach() / denom,
        importance=(probs * weights[:, None]).sum(0) / denom,
        z=(z_rows * weights).sum() / denom,
        tokens=total.detach(),
    )
