"""`MoELoraConfig`: the configuration of the MoE-LoRA PEFT method (dataclass fields only, so it round-trips)."""

from __future__ import annotations

from dataclasses import dataclass, field

from peft.config import PeftConfig

PEFT_TYPE = "MOELORA"
"""The ``peft_type`` string written to ``adapter_config.json``."""

ROUTING_MODES = ("token", "task")

LLAVA_TARGET_MODULES = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""Default targets on LLaVA: every linear of the language model's attention and MLP, never the vision tower."""

LLAVA_MODULES_TO_SAVE = ["multi_modal_projector"]
"""Default fully trained (and saved) modules on LLaVA: the multimodal projector."""


def _num_tasks() -> int:
    from rsgpt4v.schema import Task

    return len(Task)


@dataclass
class MoELoraConfig(PeftConfig):
    """Configuration of a mixture of LoRA experts on each target ``nn.Linear``.

    Each target layer gets ``num_experts`` rank-``r`` LoRA experts, stored stacked (A: ``d_in x E*r``, B:
    ``E*r x d_out``), and a router. With token routing a linear router scores every token; the gates are the
    softmax over the ``top_k`` best experts (renormalised, zero elsewhere) or, with ``top_k=None``, the softmax over
    all experts. With task routing a learned table gives one mixture per task id. The update is
    ``scaling * B @ (gates (x) A x)`` with ``scaling = lora_alpha / r``.

    Args:
        r (`int`): rank of each expert. The adapter's total rank is ``num_experts * r``.
        lora_alpha (`int`): LoRA scaling numerator; the update is multiplied by ``lora_alpha / r``.
        num_experts (`int`): number of experts per target layer.
        top_k (`int` or `None`): experts used per token (or task), 1..``num_experts``; `None` means dense soft
            routing over all experts.
        routing (`str`): ``"token"`` (a router per layer scores each token) or ``"task"`` (one learned mixture per
            task id; ``task_ids`` must be passed; mergeable per task).
        num_tasks (`int`): size of the task table for ``routing="task"``; defaults to the number of
            `rsgpt4v.schema.Task` labels, so the ``task`` ClassLabel index is the task id.
        target_modules (`list[str]` or `str`): module names (exact or ``.``-suffix) or one regex (full match).
            `None` uses the model type's default (all attention and MLP linears; for LLaVA only the language model's).
        exclude_modules (`list[str]` or `str`): modules never adapted.
        layers_to_transform (`list[int]` or `int`): restrict to these layer indices.
        layers_pattern (`list[str]` or `str`): name of the layer list used with ``layers_to_transform``.
        lora_dropout (`float`): dropout on the experts' input (not on the router's).
        router_aux_loss_coef (`float`): weight of the load-balancing loss returned by ``model.moe_aux_loss()``.
        router_z_loss_coef (`float`): weight of the router z-loss (mean squared log-sum-exp of the logits).
        fuse_router (`bool`): compute the router logits inside the A matmul (one ``d x (E*r + E)`` GEMM, the input
            is read once). The logits then come out of the GEMM in the adapters' dtype and are cast to float32 before
            the softmax; `False` computes them from float32 copies of input and weights (an extra pass over the input).
        modules_to_save (`list[str]`): modules trained fully and saved with the adapter (default on LLaVA: the
            multimodal projector; pass ``[]`` for none).
        init_lora_weights (`bool`): `True` initialises B to zero so the adapted model equals the base model at
            step 0; `False` initialises B randomly (for tests).
    """

    r: int = field(default=8, metadata={"help": "Rank of each expert; the total rank is num_experts * r."})
    lora_alpha: int = field(default=16, metadata={"help": "The update is scaled by lora_alpha / r."})
    num_experts: int = field(default=4, metadata={"help": "Number of LoRA experts per target layer."})
    top_k: int | None = field(
        default=2, metadata={"help": "Experts per token (1..num_experts); None routes densely over all experts."}
    )
    routing: str = field(
        default="token", metadata={"help": "'token' (router per layer and token) or 'task' (mixture per task id)."}
    )
    num_tasks: int = field(
        default_factory=_num_tasks,
        metadata={"help": "Number of task ids for routing='task' (default: the rsgpt4v Task labels)."},
    )
    target_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module names or a regex; None uses the model type's default targets."}
    )
    exclude_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Module names or a regex that are never adapted."}
    )
    layers_to_transform: list[int] | int | None = field(
        default=None, metadata={"help": "Only adapt the layers with these indices."}
    )
    layers_pattern: list[str] | str | None = field(
        default=None, metadata={"help": "Name of the layer list, used together with layers_to_transform."}
    )
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the experts' input."})
    router_aux_loss_coef: float = field(
        default=0.01, metadata={"help": "Weight of the padding-masked load-balancing loss N * sum_i f_i * P_i."}
    )
    router_z_loss_coef: float = field(default=0.0, metadata={"help": "Weight of the router z-loss (0 disables)."})
    fuse_router: bool = field(
        default=True,
        metadata={"help": "Fold the router into the A matmul (faster; logits in the adapter dtype before float32)."},
    )
    modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules trained fully and saved (LLaVA default: the projector)."}
    )
    init_lora_weights: bool = field(
        default=True, metadata={"help": "Zero-initialise B so the model starts equal to the base model."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = PEFT_TYPE
        if isinstance(self.target_modules, list):
            self.target_modules = set(self.target_modules)
        if isinstance(self.exclude_modules, list):
            self.exclude_modules = set(self.exclude_modules)
        if not isinstance(self.r, int) or self.r <= 0:
            raise ValueError(f"`r` must be a positive integer, got {self.r!r}.")
        if not isinstance(self.num_experts, int) or self.num_experts <= 0:
            raise ValueError(f"`num_experts` must be a positive integer, got {self.num_experts!r}.")
        if self.top_k is not None and not (isinstance(self.top_k, int) and 1 <= self.top_k <= self.num_experts):
            raise ValueError(
                f"`top_k` must be an integer in 1..num_experts={self.num_experts} or None (dense routing), "
                f"got {self.top_k!r}."
            )
        if self.routing not in ROUTING_MODES:
            raise ValueError(f"`routing` must be one of {ROUTING_MODES}, got {self.routing!r}.")
        if self.routing == "task" and (not isinstance(self.num_tasks, int) or self.num_tasks <= 0):
            raise ValueError(f"`num_tasks` must be a positive integer with routing='task', got {self.num_tasks!r}.")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"`lora_dropout` must be in [0, 1), got {self.lora_dropout!r}.")
        if self.router_aux_loss_coef < 0 or self.router_z_loss_coef < 0:
            raise ValueError(
                "`router_aux_loss_coef` and `router_z_loss_coef` must be >= 0, got "
                f"{self.router_aux_loss_coef!r} and {self.router_z_loss_coef!r}."
            )
        if self.layers_pattern and not self.layers_to_transform:
            raise ValueError("`layers_pattern` only has an effect together with `layers_to_transform`; set both.")
