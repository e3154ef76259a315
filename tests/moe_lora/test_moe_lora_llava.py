"""MoE-LoRA on a tiny LLaVA: default targets, projector training, loss/backward, generate, checkpointing, bf16."""

import pytest
import torch
from peft import get_peft_model
from tiny_models import llava_batch, tiny_llava

from rsgpt4v.moe_lora import MoELoraConfig, MoELoraLayer

PROMPTS = ["USER: <image>\nWhat is in the image? ASSISTANT: a harbour", "USER: <image>\nCount ASSISTANT: 3"]


def llava_moe(dtype=None, **config):
    model, processor = tiny_llava(dtype=dtype)
    config = {"r": 4, "lora_alpha": 8, "num_experts": 4, "top_k": 2, "init_lora_weights": False, **config}
    return get_peft_model(model, MoELoraConfig(**config)), processor


def test_defaults_target_only_the_language_model_and_train_the_projector():
    model, _ = llava_moe()
    adapted = [n for n, m in model.named_modules() if isinstance(m, MoELoraLayer)]
    assert len(adapted) == 2 * 7  # 2 layers x q/k/v/o/gate/up/down
    assert all(".language_model." in n for n in adapted)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert not any("vision_tower" in n for n in trainable)
    assert any("multi_modal_projector" in n for n in trainable)
    assert model.peft_config["default"].modules_to_save == ["multi_modal_projector"]


def test_forward_loss_backward_and_aux_loss():
    model, processor = llava_moe()
    model.train()
    batch = llava_batch(processor, PROMPTS)
    out = model(**batch)
    aux = model.moe_aux_loss()
    (out.loss + aux).backward()
    assert torch.isfinite(out.loss) and aux > 0
    projector = [p for n, p in model.named_parameters() if "multi_modal_projector" in n and p.requires_grad]
    assert projector and all(p.grad is not None and p.grad.abs().sum() > 0 for p in projector)
    routers = [p for n, p in model.named_parameters() if "moe_lora_router" in n]
    assert all(p.grad.abs().sum() > 0 for p in routers)
    loads = model.expert_load()
    assert len(loads) == 14 and all(v.sum().item() == pytest.approx(2.0) for v in loads.values())


def test_generate_runs_with_token_and_task_routing():
    for routing in ("token", "task"):
        model, processor = llava_moe(routing=routing)
        batch = llava_batch(processor, ["USER: <image>\nDescribe ASSISTANT:"] * 2)
        batch.pop("labels")
        extra = {"task_ids": torch.tensor([0, 3])} if routing == "task" else {}
        out = model.generate(**batch, max_new_tokens=4, do_sample=False, **extra)
        assert out.shape == (2, batch["input_ids"].shape[1] + 4)


def test_non_reentrant_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpointing in (False, True):
        model, processor = llava_moe(router_z_loss_coef=0.01)
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        batch = llava_batch(processor, PROMPTS)
        out = model(**batch)
        (out.loss + model.moe_aux_loss()).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


def test_bfloat16_forward_backward():
    model, processor = llava_moe(dtype=torch.bfloat16)
    model.train()
    batch = llava_batch(processor, PROMPTS)
    batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
    out = model(**batch)
    (out.loss + model.moe_aux_loss()).backward()
    assert torch.isfinite(out.loss)
    assert {p.dtype for n, p in model.named_parameters() if "moe_lora_" in n} == {torch.bfloat16}
