"""MoE-LoRA: a mixture of LoRA experts as a PEFT method (``peft_type`` "MOELORA").

Importing this package registers the method with PEFT, after which ``get_peft_model``, ``save_pretrained``,
``PeftModel.from_pretrained`` and ``PeftConfig.from_pretrained`` handle it as they handle LoRA::

    import rsgpt4v.moe_lora  # registers "MOELORA"; import it before PeftModel.from_pretrained
    from peft import get_peft_model
    from rsgpt4v.moe_lora import MoELoraConfig

    model = get_peft_model(base, MoELoraConfig(r=32, lora_alpha=64, num_experts=4, top_k=2))

Why the mapping dicts: ``peft.utils.register_peft_method`` refuses any name that is not already a member of PEFT's
``PeftType`` enum, and LoRA's experimental custom-module hook cannot persist ``num_experts``/``top_k`` in
``adapter_config.json``. ``PeftType`` is a ``str`` enum and PEFT's ``PEFT_TYPE_TO_{CONFIG,TUNER,PREFIX}_MAPPING``
are plain dicts, so inserting the string key "MOELORA" into them makes the whole adapter life cycle work. This relies
on PEFT internals, hence the pinned range :data:`SUPPORTED_PEFT` (checked on import) and the round-trip tests.
"""

from __future__ import annotations

from rsgpt4v.moe_lora.config import PEFT_TYPE

SUPPORTED_PEFT = (">=0.21.0", "<0.22")
"""The PEFT versions whose mapping dicts and tuner hooks this package was built and tested against."""


def _check_peft_version() -> None:
    import peft
    from packaging.version import Version

    version = Version(peft.__version__)
    if not Version("0.21.0") <= version < Version("0.22"):
        raise ImportError(
            f"rsgpt4v.moe_lora supports peft {','.join(SUPPORTED_PEFT)}, but peft {peft.__version__} is installed. "
            "Install a supported version, e.g. `pip install 'peft>=0.21,<0.22'`."
        )


def register() -> None:
    """Register "MOELORA" in PEFT's config, tuner and prefix mappings (idempotent; done on import)."""
    from peft import mapping

    from rsgpt4v.moe_lora.config import MoELoraConfig
    from rsgpt4v.moe_lora.model import MoELoraModel

    mapping.PEFT_TYPE_TO_CONFIG_MAPPING[PEFT_TYPE] = MoELoraConfig
    mapping.PEFT_TYPE_TO_TUNER_MAPPING[PEFT_TYPE] = MoELoraModel
    mapping.PEFT_TYPE_TO_PREFIX_MAPPING[PEFT_TYPE] = MoELoraModel.prefix


_check_peft_version()

from rsgpt4v.moe_lora.config import MoELoraConfig  # noqa: E402
from rsgpt4v.moe_lora.layer import Linear, MoELoraLayer  # noqa: E402
from rsgpt4v.moe_lora.model import MoELoraModel  # noqa: E402
from rsgpt4v.moe_lora.router import RouterStats, gates_from_logits  # noqa: E402

register()

__all__ = [
    "PEFT_TYPE",
    "SUPPORTED_PEFT",
    "Linear",
    "MoELoraConfig",
    "MoELoraLayer",
    "MoELoraModel",
    "RouterStats",
    "gates_from_logits",
    "register",
]
