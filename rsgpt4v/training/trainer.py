"""``RSTrainer``: the ``transformers.Trainer`` for LLaVA recipes (MoE-LoRA aux loss, projector lr, saving).

It adds MoE-LoRA's auxiliary loss, gives the projector its own learning rate, groups batches by length and saves
adapter + processor + recipe.

The auxiliary loss under gradient accumulation: when the model normalises its cross-entropy by the number of label
tokens of the whole accumulated batch (``num_items_in_batch``, transformers >= 4.46), ``Trainer.training_step``
no longer divides the loss by the accumulation steps. The aux loss is a per-micro-batch mean, so it is divided by
``current_gradient_accumulation_steps`` here in that case (and left to the Trainer's division otherwise): the
effective loss of one optimizer step is ``CE(accumulated batch) + mean over micro-batches of aux`` whatever the
accumulation. It is not multiplied by the number of processes (the cross-entropy is, to undo DDP's gradient
averaging of a loss already normalised by the global token count; the aux loss is a per-process mean, which DDP's
averaging turns into the mean over processes).
"""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import nullcontext
from typing import Any

from transformers import Trainer, TrainerCallback

from rsgpt4v.training.recipes import Recipe

__all__ = ["GenerationEvalCallback", "RSTrainer"]

_LAYER = re.compile(r"\.layers\.(\d+)\.")


class RSTrainer(Trainer):
    """A ``Trainer`` that knows the recipe it runs.

    Args:
        *args: as for ``transformers.Trainer`` (``model``, ``args``, ``train_dataset``, ``data_collator``,
            ``processing_class``: pass the processor so that checkpoints hold it).
        recipe: the :class:`~rsgpt4v.training.recipes.Recipe`; written to every checkpoint and final save, and
            read for ``projector_lr`` and ``group_by_length``.
        **kwargs: as for ``transformers.Trainer``.

    Logged besides the loss (every ``logging_steps``): ``aux_loss`` (mean MoE-LoRA auxiliary loss of the training
    forwards since the last log, already weighted by ``router_aux_loss_coef``) and ``expert_load/layer_<i>/expert_<e>``
    (share of non-padding tokens routed to expert ``e``, averaged over the adapted linears of decoder layer ``i`` and
    the forwards since the last log), plus ``skipped_masked`` when the collator skips samples.
    """

    def __init__(self, *args: Any, recipe: Recipe | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self._aux_sum = 0.0
        self._aux_count = 0
        self._load_sum: dict[str, Any] = defaultdict(float)
        self._load_count = 0

    # -- model access ------------------------------------------------------------------------------------------
    def _peft(self, model: Any) -> Any:
        """The unwrapped model if it has MoE-LoRA layers (``moe_aux_loss``), else `None`."""
        unwrapped = self.accelerator.unwrap_model(model)
        config = getattr(unwrapped, "peft_config", None)
        if not config or not any(getattr(c, "peft_type", None) == "MOELORA" for c in config.values()):
            return None
        return unwrapped

    # -- loss --------------------------------------------------------------------------------------------------
    def _loss_is_scaled(self, num_items_in_batch: Any) -> bool:
        if self.loss_is_scaled_for_ga is not None:
            return bool(self.loss_is_scaled_for_ga)
        return (
            self.model_accepts_loss_kwargs and num_items_in_batch is not None
        ) or self.compute_loss_func is not None

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """The Trainer's loss plus, for MoE-LoRA, the routers' auxiliary loss scaled for gradient accumulation.

        ``task_ids`` in the batch route a task-routed adapter (they are taken out of the model inputs).
        """
        inputs = dict(inputs)
        task_ids = inputs.pop("task_ids", None)
        moe = self._peft(model)
        if task_ids is not None and moe is None:
            raise ValueError(
                "the batch holds task_ids but the model has no MoE-LoRA adapter to route them; build the collator "
                "with task_ids=False, or train a task-routed moe-lora recipe."
            )
        routing = moe.route_tasks(task_ids) if task_ids is not None else nullcontext()
        with routing:
            loss, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
        if moe is not None:
            aux = moe.moe_aux_loss()
            if model.training:
                self._record_routing(moe, aux)
            if self._loss_is_scaled(num_items_in_batch):
                aux = aux / self.current_gradient_accumulation_steps
            loss = loss + aux.to(loss.dtype)
        return (loss, outputs) if return_outputs else loss

    def _record_routing(self, moe: Any, aux: Any) -> None:
        self._aux_sum += float(aux.detach())
        self._aux_count += 1
        for name, load in moe.expert_load().items():
            match = _LAYER.search(name)
            layer = match.group(1) if match else "other"
            for expert, share in enumerate(load.detach().float().tolist()):
                key = f"expert_load/layer_{layer}/expert_{expert}"
                self._load_sum[key] += share
                self._load_sum[f"_n/{key}"] += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the aux loss, expert loads and skipped-sample count to the Trainer's logs."""
        if "loss" in logs and self._aux_count:
            logs["aux_loss"] = self._aux_sum / self._aux_count
            for key, total in self._load_sum.items():
                if not key.startswith("_n/"):
                    logs[key] = total / self._load_sum[f"_n/{key}"]
            self._aux_sum, self._aux_count = 0.0, 0
            self._load_sum.clear()
        skipped = getattr(self.data_collator, "stats", {}).get("skipped_masked", 0)
        if skipped:
            logs["skipped_masked"] = skipped
        super().log(logs, start_time)

    # -- optimizer and sampler ---------------------------------------------------------------------------------
    def create_optimizer(self, model: Any = None) -> Any:
        """AdamW (or ``args.optim``) with the projector in its own parameter groups at ``recipe.projector_lr``."""
        projector_lr = self.recipe.projector_lr if self.recipe is not None else None
        if self.optimizer is not None or projector_lr is None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, bool], list[Any]] = defaultdict(list)
        for name, param in opt_model.named_parameters():
            if param.requires_grad:
                groups[("multi_modal_projector" in name, name in decay)].append(param)
        param_groups = []
        for (is_projector, decays), params in sorted(groups.items()):
            group: dict[str, Any] = {"params": params, "weight_decay": self.args.weight_decay if decays else 0.0}
            if is_projector:
                group["lr"] = projector_lr
            param_groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """LLaVA's length-grouped sampler when the recipe asks for it and the dataset is a map-style one."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        grouped = self.recipe is not None and self.recipe.group_by_length
        if not grouped or not hasattr(dataset, "column_names") or "conversations" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)
        from rsgpt4v.training.sampler import LengthGroupedSampler, conversation_length

        lengths = [conversation_length(c) for c in dataset.select_columns(["conversations"])["conversations"]]
        return LengthGroupedSampler(
            lengths, self.args.per_device_train_batch_size, self.args.world_size, seed=self.args.seed
        )

    # -- saving ------------------------------------------------------------------------------------------------
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.recipe is not None and self.args.should_save:
            self.recipe.save(output_dir if output_dir is not None else self.args.output_dir)


class GenerationEvalCallback(TrainerCallback):
    """Every ``every_steps`` optimizer steps (and at the end), answer a few VQA items and log their accuracy.

    Uses :class:`rsgpt4v.inference.Predictor` on the model being trained (same prompts and image preparation as
    ``rsgpt4v predict``) and :func:`rsgpt4v.evaluation.vqa_scores`; logs ``gen_eval/vqa_accuracy`` and one
    ``gen_eval/vqa_<type>`` per question type into the Trainer's log history (and prints them on the main process).

    Args:
        items: VQA items (``rsgpt4v.data.items`` of a ``vqa`` split), a small subset.
        processor: the model's processor.
        every_steps: evaluate every this many steps (0: only at the end of training).
        max_new_tokens: generation length.
        batch_size: items per generate call.
    """

    def __init__(
        self,
        items: list[dict[str, Any]],
        processor: Any,
        every_steps: int = 0,
        max_new_tokens: int = 8,
        batch_size: int = 16,
    ) -> None:
        if not items:
            raise ValueError("GenerationEvalCallback needs at least one item.")
        self.items = items
        self.processor = processor
        self.every_steps = every_steps
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    def evaluate(self, model: Any) -> dict[str, float]:
        """Answer the items with ``model`` and return the accuracies (model put back in train mode after)."""
        from rsgpt4v.evaluation.vqa import vqa_scores
        from rsgpt4v.inference import Predictor, messages

        was_training = model.training
        predictor = Predictor(
            model, processor=self.processor, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size
        )
        tasks = [item["task"] for item in self.items] if predictor.task_routed else None
        answers = predictor.generate([(item["image"], messages(item["prompt"])) for item in self.items], tasks)
        report = vqa_scores({item["question_id"]: a for item, a in zip(self.items, answers)}, self.items)
        model.train(was_training)
        scores = {"gen_eval/vqa_accuracy": report.overall}
        scores.update({f"gen_eval/vqa_{t}": v["accuracy"] for t, v in report.per_type.items()})
        return scores

    def _run(self, args: Any, state: Any, model: Any) -> None:
        scores = self.evaluate(model)
        state.log_history.append({**scores, "step": state.global_step})
        if state.is_world_process_zero:
            print({k: round(v, 4) for k, v in scores.items()})

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.every_steps and state.global_step % self.every_steps == 0:
            self._run(args, state, model)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._run(args, state, model)
