"""The MoE-LoRA tuner layer: stacked LoRA experts with per-token (or per-task) block gates on an ``nn.Linear``."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from torch import nn

from rsgpt4v.moe_lora.config import MoELoraConfig
from rsgpt4v.moe_lora.router import RouterStats, RoutingContext, gates_from_logits, router_stats


class MoELoraLayer(BaseTunerLayer):
    """Mixin holding the per-adapter MoE-LoRA parameters of one target layer (keyed by adapter name).

    ``moe_lora_A[name]`` is ``nn.Linear(d_in, E*r)`` (all experts' A stacked), ``moe_lora_B[name]`` is
    ``nn.Linear(E*r, d_out)``, ``moe_lora_router[name]`` is ``nn.Linear(d_in, E)`` for token routing or
    ``nn.Embedding(num_tasks, E)`` for task routing. All are in the base layer's dtype.
    """

    adapter_layer_names = ("moe_lora_A", "moe_lora_B", "moe_lora_router")
    other_param_names = ("r", "scaling", "num_experts", "top_k", "routing", "fuse_router", "moe_lora_dropout")

    def __init__(self, base_layer: nn.Module, context: RoutingContext, **kwargs: Any) -> None:
        self.base_layer = base_layer
        self.moe_lora_A = nn.ModuleDict()
        self.moe_lora_B = nn.ModuleDict()
        self.moe_lora_router = nn.ModuleDict()
        self.moe_lora_dropout = nn.ModuleDict()
        self.r: dict[str, int] = {}
        self.scaling: dict[str, float] = {}
        self.num_experts: dict[str, int] = {}
        self.top_k: dict[str, int | None] = {}
        self.routing: dict[str, str] = {}
        self.fuse_router: dict[str, bool] = {}
        self.moe_context = context
        self.router_stats: dict[str, RouterStats] = {}
        self._stats_forward_id: dict[str, int] = {}
        self._merged_task: dict[str, int] = {}
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        base = self.get_base_layer()
        if not isinstance(base, nn.Linear):
            raise TypeError(
                f"MoE-LoRA supports only `torch.nn.Linear` targets, got {type(base).__name__}; "
                "narrow `target_modules` to linear layers."
            )
        self.in_features, self.out_features = base.in_features, base.out_features

    def update_layer(self, adapter_name: str, config: MoELoraConfig, inference_mode: bool = False) -> None:
        """Create (or re-create) the adapter ``adapter_name`` on this layer from ``config``."""
        E, r = config.num_experts, config.r
        self.r[adapter_name] = r
        self.scaling[adapter_name] = config.lora_alpha / r
        self.num_experts[adapter_name] = E
        self.top_k[adapter_name] = config.top_k
        self.routing[adapter_name] = config.routing
        self.fuse_router[adapter_name] = config.fuse_router
        self.moe_lora_dropout[adapter_name] = nn.Dropout(config.lora_dropout) if config.lora_dropout else nn.Identity()
        self.moe_lora_A[adapter_name] = nn.Linear(self.in_features, E * r, bias=False)
        self.moe_lora_B[adapter_name] = nn.Linear(E * r, self.out_features, bias=False)
        if config.routing == "token":
            self.moe_lora_router[adapter_name] = nn.Linear(self.in_features, E, bias=False)
        else:
            self.moe_lora_router[adapter_name] = nn.Embedding(config.num_tasks, E)
        self.reset_parameters(adapter_name, config.init_lora_weights)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=inference_mode)

    def reset_parameters(self, adapter_name: str, init_lora_weights: bool) -> None:
        """Initialise A per expert as ``nn.Linear`` does, B to zero (or randomly), the router to small values."""
        a = self.moe_lora_A[adapter_name].weight
        with torch.no_grad():
            for block in a.view(self.num_experts[adapter_name], self.r[adapter_name], self.in_features):
                nn.init.kaiming_uniform_(block, a=math.sqrt(5))
            if init_lora_weights:
                nn.init.zeros_(self.moe_lora_B[adapter_name].weight)
            else:
                nn.init.normal_(self.moe_lora_B[adapter_name].weight, std=0.1)
            nn.init.normal_(self.moe_lora_router[adapter_name].weight, std=0.02)

    def current_stats(self, adapter_name: str) -> RouterStats | None:
        """Return the adapter's routing statistics if this layer routed during the last model forward, else None."""
        if self._stats_forward_id.get(adapter_name) != self.moe_context.forward_id:
            return None
        return self.router_stats.get(adapter_name)

    def delete_adapter(self, adapter_name: str) -> None:
        super().delete_adapter(adapter_name)
        self.router_stats.pop(adapter_name, None)
        self._stats_forward_id.pop(adapter_name, None)


class Linear(nn.Module, MoELoraLayer):
    """An ``nn.Linear`` with MoE-LoRA experts: ``base(x) + scaling * B(gates (x) A(dropout(x)))``."""

    def __init__(
        self, base_layer: nn.Module, adapter_name: str, config: MoELoraConfig, context: RoutingContext, **kwargs: Any
    ) -> None:
        super().__init__()
        MoELoraLayer.__init__(self, base_layer, context, **kwargs)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    # -- routing ---------------------------------------------------------------------------------------------------
    def _task_logits(self, adapter: str, x: torch.Tensor) -> torch.Tensor:
        task_ids = self.moe_context.task_ids
        if task_ids is None:
            raise ValueError(
                "MoE-LoRA adapter with routing='task' got no `task_ids`. Pass `task_ids=` (one task index per sample) "
                "to the PeftModel's forward/generate, or wrap the call in `with model.route_tasks(task_ids):` (PEFT's "
                "task-specific wrappers such as PeftModelForCausalLM drop a `task_ids` forward keyword for "
                "non-Poly methods; build the PeftModel with task_type=None or use `route_tasks`)."
            )
        task_ids = task_ids.to(x.device)
        if x.dim() >= 2 and x.shape[0] != task_ids.numel():
            if x.shape[0] % task_ids.numel():
                raise ValueError(
                    f"`task_ids` has {task_ids.numel()} entries but the batch has {x.shape[0]} samples; pass one task "
                    "index per sample."
                )
            task_ids = task_ids.repeat_interleave(x.shape[0] // task_ids.numel())  # beams / return sequences
        return self.moe_lora_router[adapter](task_ids)

    def _token_mask(self, x: torch.Tensor) -> torch.Tensor | None:
        mask = self.moe_context.token_mask
        if mask is None or mask.shape != x.shape[:-1]:
            return None  # e.g. a layer outside the language model, or a cached decoding step: count every token
        return mask.to(x.device)

    def _record(
        self, adapter: str, x: torch.Tensor, logits: torch.Tensor, probs: torch.Tensor, gates: torch.Tensor
    ) -> None:
        E = probs.shape[-1]
        mask = self._token_mask(x)
        if self.routing[adapter] == "token":
            weights = None if mask is None else mask.reshape(-1)
        elif mask is not None:
            weights = mask.reshape(mask.shape[0], -1).sum(-1)
        else:
            weights = torch.full((probs.shape[0],), x[0, ..., 0].numel(), device=x.device)
        stats = router_stats(
            logits.reshape(-1, E), probs.reshape(-1, E), gates.reshape(-1, E), weights, self.top_k[adapter] is None
        )
        # Computed on every call (a non-reentrant checkpoint recompute must save the same tensors as the forward),
        # kept once per model forward (the recompute during backward must not replace the forward's statistics).
        if self._stats_forward_id.get(adapter) != self.moe_context.forward_id:
            self._stats_forward_id[adapter] = self.moe_context.forward_id
            self.router_stats[adapter] = stats

    # -- forward ---------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        if self.merged:
            return result
        result_dtype = result.dtype
        for adapter in self.active_adapters:
            if adapter not in self.moe_lora_A:
                continue
            result = result + self._adapter_output(adapter, x)
        return result.to(result_dtype)

    def _adapter_output(self, adapter: str, x: torch.Tensor) -> torch.Tensor:
        E, r = self.num_experts[adapter], self.r[adapter]
        a = self.moe_lora_A[adapter].weight
        router = self.moe_lora_router[adapter]
        dropout = self.moe_lora_dropout[adapter]
        xa = self._cast_input_dtype(x, a.dtype)
        if self.routing[adapter] == "token":
            if self.fuse_router[adapter] and (isinstance(dropout, nn.Identity) or not self.training):
                h, logits = F.linear(xa, torch.cat([a, router.weight.to(a.dtype)])).split([E * r, E], dim=-1)
            else:
                h = F.linear(dropout(xa), a)
                if self.fuse_router[adapter]:
                    logits = F.linear(xa, router.weight.to(a.dtype))
                else:
                    logits = F.linear(x.float(), router.weight.float())
            gates, probs = gates_from_logits(logits, self.top_k[adapter])
            block_gates = gates
        else:
            h = F.linear(dropout(xa), a)
            logits = self._task_logits(adapter, x)
            gates, probs = gates_from_logits(logits, self.top_k[adapter])
            block_gates = gates.view(gates.shape[0], *([1] * (x.dim() - 2)), E)
        self._record(adapter, x, logits, probs, gates)
        scale = (block_gates * self.scaling[adapter]).to(h.dtype).unsqueeze(-1)
        h = (h.unflatten(-1, (E, r)) * scale).flatten(-2)
        return F.linear(h, self.moe_lora_B[adapter].weight)

    # -- merging (task routing only) -------------------------------------------------------------------------------
    def get_delta_weight(self, adapter: str, task_id: int | None) -> torch.Tensor:
        """Return ``scaling * B diag(gates(task_id) repeated r times) A``: the weight update of one task."""
        if self.routing[adapter] != "task":
            raise ValueError(
                "MoE-LoRA with routing='token' cannot be merged: the expert mixture depends on each token, so no "
                "single weight update reproduces it. Keep the adapter unmerged, or train with routing='task'."
            )
        router = self.moe_lora_router[adapter]
        if task_id is None or not 0 <= task_id < router.num_embeddings:
            raise ValueError(f"`task_id` must be in 0..{router.num_embeddings - 1} (num_tasks), got {task_id}.")
        gates, _ = gates_from_logits(router.weight[task_id], self.top_k[adapter])
        scale = gates.repeat_interleave(self.r[adapter]) * self.scaling[adapter]
        a = self.moe_lora_A[adapter].weight.float()
        b = self.moe_lora_B[adapter].weight.float()
        return b @ (scale[:, None] * a)

    def merge(
        self, safe_merge: bool = False, adapter_names: list[str] | None = None, task_id: int | None = None
    ) -> None:
        """Add the mixture of ``task_id`` to the base weight (task routing only).

        Args:
            safe_merge: check the merged weight for NaN/inf before writing it.
            adapter_names: adapters to merge (default: the active ones).
            task_id: the task whose expert mixture is merged; required.
        """
        adapter_names = check_adapters_to_merge(self, adapter_names)
        if not adapter_names:
            return
        for adapter in adapter_names:
            if self.routing[adapter] == "task" and task_id is None:
                raise ValueError(
                    "Merging a MoE-LoRA adapter with routing='task' needs the task: call "
                    "`merge_and_unload(task_id=...)` (or `merge_adapter(task_id=...)`)."
                )
            delta = self.get_delta_weight(adapter, task_id)
            base = self.get_base_layer()
            merged = base.weight.data.float() + delta
            if safe_merge and not torch.isfinite(merged).all():
                raise ValueError(f"NaNs or infs found while merging adapter {adapter!r}; the adapter looks broken.")
            base.weight.data = merged.to(base.weight.dtype)
            self._merged_task[adapter] = task_id
            self.merged_adapters.append(adapter)

    def unmerge(self) -> None:
        """Subtract the merged task mixtures from the base weight again."""
        while self.merged_adapters:
            adapter = self.merged_adapters.pop()
            base = self.get_base_layer()
            delta = self.get_delta_weight(adapter, self._merged_task.pop(adapter))
            base.weight.data = (base.weight.data.float() - delta).to(base.weight.dtype)

    def __repr__(self) -> str:
        return "moe_lora." + super().__repr__()
