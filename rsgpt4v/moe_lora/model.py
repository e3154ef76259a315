"""`MoELoraModel`: the PEFT tuner that injects MoE-LoRA layers, routes task ids and collects the auxiliary loss."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTuner
from torch import nn

from rsgpt4v.moe_lora.config import LLAVA_MODULES_TO_SAVE, LLAVA_TARGET_MODULES, MoELoraConfig
from rsgpt4v.moe_lora.layer import Linear, MoELoraLayer
from rsgpt4v.moe_lora.router import RoutingContext

_DECODER_LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TARGET_MODULES: dict[str, list[str] | str] = {
    **{name: _DECODER_LINEARS for name in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")},
    "llava": LLAVA_TARGET_MODULES,
    "llava_next": LLAVA_TARGET_MODULES,
}
"""Default ``target_modules`` per ``config.model_type`` (all attention and MLP linears of the language model)."""


class _GenerateWithTaskIds:
    """Wraps a model's ``generate`` so that it accepts ``task_ids`` and routes them instead of passing them on."""

    def __init__(self, tuner: MoELoraModel, generate: Any) -> None:
        self.tuner = tuner
        self.generate = generate

    def __call__(self, *args: Any, task_ids: Any = None, **kwargs: Any) -> Any:
        if task_ids is None:
            return self.generate(*args, **kwargs)
        with self.tuner.route_tasks(task_ids):
            return self.generate(*args, **kwargs)


class MoELoraModel(BaseTuner):
    """PEFT tuner for :class:`~rsgpt4v.moe_lora.MoELoraConfig` (created by ``get_peft_model``, not directly).

    Besides the usual tuner API (``set_adapter``, ``delete_adapter``, ``disable_adapter_layers``, ``unload``) it
    provides :meth:`moe_aux_loss`, :meth:`expert_load`, :meth:`route_tasks` and ``merge_and_unload(task_id=...)``;
    ``PeftModel`` forwards these attribute look-ups, so ``peft_model.moe_aux_loss()`` works.

    A forward pre-hook on the wrapped model captures the ``attention_mask`` (for the padding-masked statistics) and
    removes a ``task_ids`` keyword before the model sees it; ``generate`` accepts ``task_ids`` too.
    """

    prefix: str = "moe_lora_"
    tuner_layer_cls = MoELoraLayer
    target_module_mapping = TARGET_MODULES

    def __init__(self, model: nn.Module, config: Any, adapter_name: str, **kwargs: Any) -> None:
        self.moe_context = RoutingContext()
        super().__init__(model, config, adapter_name, **kwargs)
        self._pre_hook = self.model.register_forward_pre_hook(self._capture_routing_inputs, with_kwargs=True)
        if hasattr(self.model, "generate"):
            self.model.generate = _GenerateWithTaskIds(self, self.model.generate)

    # -- injection -------------------------------------------------------------------------------------------------
    def _prepare_adapter_config(self, peft_config: MoELoraConfig, model_config: dict) -> MoELoraConfig:
        if peft_config.target_modules is None:
            targets = self.target_module_mapping.get(model_config.get("model_type"))
            if targets is None:
                raise ValueError(
                    f"No default MoE-LoRA targets for model type {model_config.get('model_type')!r}; set "
                    "`target_modules` in MoELoraConfig (module names or a regex)."
                )
            peft_config.target_modules = targets if isinstance(targets, str) else set(targets)
        if peft_config.modules_to_save is None and model_config.get("model_type") in ("llava", "llava_next"):
            peft_config.modules_to_save = list(LLAVA_MODULES_TO_SAVE)
        return peft_config

    def _create_and_replace(
        self,
        peft_config: MoELoraConfig,
        adapter_name: str,
        target: nn.Module,
        target_name: str,
        parent: nn.Module,
        current_key: str,
        **kwargs: Any,
    ) -> None:
        if isinstance(target, MoELoraLayer):
            target.update_layer(adapter_name, peft_config)
            return
        new_module = Linear(target, adapter_name, peft_config, self.moe_context)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)  # an added adapter is not trainable until it is activated
        self._replace_module(parent, target_name, new_module, target)

    def _cast_adapter_dtype(self, adapter_name: str, autocast_adapter_dtype: bool = True) -> None:
        """Keep the adapters in the base layers' dtype (PEFT would upcast bf16/fp16 adapters to float32).

        Float32 adapters on a bf16 model made plain LoRA 1.65x slower per training step on an H100 (1.15x under bf16
        autocast) and cost memory; the router's softmax is computed in float32 regardless.
        """

    # -- routing inputs --------------------------------------------------------------------------------------------
    def _task_routing_adapters(self) -> dict[str, MoELoraConfig]:
        return {name: cfg for name, cfg in self.peft_config.items() if cfg.routing == "task"}

    def _check_task_ids(self, task_ids: Any) -> torch.Tensor:
        ids = torch.as_tensor(task_ids).reshape(-1)
        if ids.is_floating_point() or ids.dtype == torch.bool:
            raise TypeError(f"`task_ids` must be integer task indices, got dtype {ids.dtype}.")
        limits = {name: cfg.num_tasks for name, cfg in self._task_routing_adapters().items()}
        if limits and ids.numel():
            low, high = int(ids.min()), int(ids.max())
            for name, num_tasks in limits.items():
                if low < 0 or high >= num_tasks:
                    raise ValueError(
                        f"`task_ids` must be in 0..{num_tasks - 1} for adapter {name!r} (num_tasks={num_tasks}), "
                        f"got {ids.tolist()}."
                    )
        return ids.long()

    def _capture_routing_inputs(
        self, module: nn.Module, args: tuple, kwargs: dict[str, Any]
    ) -> tuple[tuple, dict[str, Any]]:
        context = self.moe_context
        context.forward_id += 1
        task_ids = kwargs.pop("task_ids", None)
        context.task_ids = self._check_task_ids(task_ids) if task_ids is not None else context.scoped_task_ids
        mask = kwargs.get("attention_mask")
        context.token_mask = mask.bool() if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None
        return args, kwargs

    @contextmanager
    def route_tasks(self, task_ids: Any) -> Iterator[None]:
        """Route every forward inside the block with ``task_ids`` (one task index per sample, or one for all).

        Needed only where a ``task_ids`` keyword cannot reach the model (PEFT's ``PeftModelForCausalLM.forward``
        drops it for non-Poly methods); ``model(..., task_ids=...)`` and ``model.generate(..., task_ids=...)``
        work otherwise.
        """
        previous = self.moe_context.scoped_task_ids
        self.moe_context.scoped_task_ids = self._check_task_ids(task_ids)
        try:
            yield
        finally:
            self.moe_context.scoped_task_ids = previous

    # -- losses and statistics -------------------------------------------------------------------------------------
    def _layers(self) -> Iterator[tuple[str, MoELoraLayer]]:
        for name, module in self.model.named_modules():
            if isinstance(module, MoELoraLayer):
                yield name, module

    def moe_aux_loss(self) -> torch.Tensor:
        """Return the routers' auxiliary loss of the last forward, ready to add to the training loss.

        Per layer and active adapter: ``router_aux_loss_coef * E * sum_i f_i * P_i + router_z_loss_coef * z``,
        averaged over the adapted layers (so the loss's weight does not grow with the number of adapted modules;
        Mixtral and MixLoRA likewise compute one loss over all layers' routing). ``f_i`` is the fraction of
        non-padding tokens routed to expert ``i``, ``P_i`` the mean router probability of expert ``i`` over the same
        tokens and ``z`` the mean squared log-sum-exp of the router logits. Padding is read from the
        ``attention_mask`` passed to the model. Returns a zero tensor when the last forward recorded no routing
        (adapters disabled or merged).
        """
        terms = []
        for _, layer in self._layers():
            for adapter in layer.active_adapters:
                stats = layer.current_stats(adapter)
                if stats is None:
                    continue
                config = self.peft_config[adapter]
                term = config.router_aux_loss_coef * stats.balance_loss()
                if config.router_z_loss_coef:
                    term = term + config.router_z_loss_coef * stats.z
                terms.append(term)
        if not terms:
            return torch.zeros((), device=next(self.model.parameters()).device)
        return torch.stack(terms).mean()

    def expert_load(self) -> dict[str, torch.Tensor]:
        """Return, per adapted layer, the fraction of non-padding tokens routed to each expert in the last forward.

        Keys are ``"<module name>"`` (with ``":<adapter>"`` appended when several adapters are active), values are
        ``(num_experts,)`` float tensors summing to ``top_k`` (1 for dense routing). For logging.
        """
        loads = {}
        for name, layer in self._layers():
            stats = {a: layer.current_stats(a) for a in layer.active_adapters}
            stats = {a: v for a, v in stats.items() if v is not None}
            for adapter, value in stats.items():
                loads[name if len(stats) == 1 else f"{name}:{adapter}"] = value.load
        return loads

    # -- merging and unloading -------------------------------------------------------------------------------------
    def _check_mergeable(self, adapter_names: list[str] | None, task_id: int | None) -> None:
        for name in adapter_names or self.active_adapters:
            routing = self.peft_config[name].routing
            if routing == "token":
                raise ValueError(
                    f"MoE-LoRA adapter {name!r} uses routing='token' and cannot be merged: the expert mixture depends "
                    "on each token, so no single weight update reproduces it. Serve it unmerged, or train with "
                    "routing='task' and merge one task with `merge_and_unload(task_id=...)`."
                )
            if task_id is None:
                raise ValueError(
                    f"MoE-LoRA adapter {name!r} uses routing='task': pass the task to merge, e.g. "
                    "`merge_and_unload(task_id=0)`."
                )

    def merge_adapter(
        self, adapter_names: list[str] | None = None, safe_merge: bool = False, task_id: int | None = None
    ) -> None:
        """Merge the mixture of ``task_id`` into the base weights, keeping the adapter layers (see ``unmerge``)."""
        self._check_mergeable(adapter_names, task_id)
        for _, layer in self._layers():
            layer.merge(safe_merge=safe_merge, adapter_names=adapter_names, task_id=task_id)

    def merge_and_unload(
        self,
        progressbar: bool = False,
        safe_merge: bool = False,
        adapter_names: list[str] | None = None,
        task_id: int | None = None,
    ) -> nn.Module:
        """Merge the expert mixture of ``task_id`` into the base weights and return the plain base model.

        Only adapters with ``routing="task"`` can be merged; the result equals the unmerged model run with
        ``task_ids=task_id``.

        Args:
            progressbar: show a progress bar while unloading.
            safe_merge: check the merged weights for NaN/inf.
            adapter_names: adapters to merge (default: the active ones).
            task_id: the task index whose mixture is merged.
        """
        self.merge_adapter(adapter_names=adapter_names, safe_merge=safe_merge, task_id=task_id)
        return self._unload_and_optionally_merge(merge=False, progressbar=progressbar)

    def _replace_module(self, parent: nn.Module, child_name: str, new_module: nn.Module, child: nn.Module) -> None:
        # PEFT's BaseTuner copies ``child.weight`` onto a replacement that has no ``base_layer``; an unloaded
        # modules_to_save wrapper (LLaVA's projector has no ``weight``) is put back as it is, as LoraModel does.
        from peft.utils import ModulesToSaveWrapper

        if isinstance(child, ModulesToSaveWrapper):
            setattr(parent, child_name, new_module)
            return
        super()._replace_module(parent, child_name, new_module, child)

    def _unload_and_optionally_merge(self, merge: bool = True, **kwargs: Any) -> nn.Module:
        if merge:
            self._check_mergeable(kwargs.get("adapter_names"), None)
        model = super()._unload_and_optionally_merge(merge=merge, **kwargs)
        self._pre_hook.remove()
        if isinstance(model.__dict__.get("generate"), _GenerateWithTaskIds):
            del model.generate
        return model
