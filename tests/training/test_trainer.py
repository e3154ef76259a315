"""RSTrainer and the recipes: each recipe trains and saves, resume reproduces the losses, the aux loss is scaled
right under gradient accumulation, the projector has its own learning rate, routing is logged."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from rsgpt4v.training.command import train
from rsgpt4v.training.recipes import RECIPE_FILE, recipe

CPU = dict(use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)


def _small(name, **overrides):
    settings = dict(
        lora_r=4,
        lora_alpha=8,
        per_device_train_batch_size=2,
        max_steps=3,
        save_steps=0,
        logging_steps=1,
        learning_rate=1e-2,
        dataloader_num_workers=0,
        max_length=512,
        gradient_checkpointing=False,
    )
    settings.update(overrides)
    return recipe(name, **settings)


def _losses(history):
    return [entry["loss"] for entry in history if "loss" in entry and "train_loss" not in entry]


@pytest.mark.parametrize("name", ["full", "lora", "moe-lora"])
def test_each_recipe_trains_saves_and_reloads(tiny_model_dir, tiny_build, tmp_path, name):
    from rsgpt4v.inference import Predictor

    out = tmp_path / name
    result = train(
        tiny_model_dir, tiny_build, out, _small(name, gradient_checkpointing=name == "moe-lora"), config="vqa", **CPU
    )
    assert result.global_step == 3
    losses = _losses(result.log_history)
    assert len(losses) == 3 and all(0 < loss < 20 for loss in losses)
    assert json.loads((out / RECIPE_FILE).read_text())["name"] == name
    assert (out / "processor_config.json").is_file() and (out / "rsgpt4v_data.json").is_file()
    if name == "full":
        assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
        predictor = Predictor(out, max_new_tokens=3)
    else:
        config = json.loads((out / "adapter_config.json").read_text())
        assert config["peft_type"] == ("LORA" if name == "lora" else "MOELORA")
        assert "multi_modal_projector" in config["modules_to_save"]
        predictor = Predictor(tiny_model_dir, adapter=out, max_new_tokens=3)
    from PIL import Image

    assert isinstance(predictor.ask(Image.new("RGB", (32, 32)), "Is there a road?"), str)


def test_moe_lora_logs_aux_loss_and_expert_load(tiny_model_dir, tiny_build, tmp_path):
    result = train(tiny_model_dir, tiny_build, tmp_path / "m", _small("moe-lora", max_steps=2), config="vqa", **CPU)
    logged = [e for e in result.log_history if "loss" in e and "train_loss" not in e]
    assert all(e["aux_loss"] > 0 for e in logged)
    loads = {k: v for k, v in logged[0].items() if k.startswith("expert_load/")}
    assert sorted(loads) == [f"expert_load/layer_{i}/expert_{e}" for i in range(2) for e in range(4)]
    for layer in range(2):
        assert sum(loads[f"expert_load/layer_{layer}/expert_{e}"] for e in range(4)) == pytest.approx(2.0)  # top-2


class _StepCounter(TrainerCallback):
    """Counts the optimizer steps a run takes (a resumed run takes only those after its checkpoint)."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def test_resume_reproduces_the_loss_trajectory(tiny_model_dir, tiny_build, tmp_path):
    settings = _small("moe-lora", max_steps=4, save_steps=2, save_total_limit=None, lora_dropout=0.1)
    straight = train(tiny_model_dir, tiny_build, tmp_path / "a", settings, config="vqa", **CPU)
    assert (tmp_path / "a" / "checkpoint-2" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "a" / "checkpoint-2" / RECIPE_FILE).is_file()
    counter = _StepCounter()
    resumed = train(
        tiny_model_dir,
        tiny_build,
        tmp_path / "a",
        settings,
        config="vqa",
        resume=str(tmp_path / "a" / "checkpoint-2"),
        callbacks=[counter],
        **CPU,
    )
    assert counter.steps == 2  # steps 3 and 4: the run continued from the checkpoint, it did not start over
    expected = _losses(straight.log_history)
    got = _losses(resumed.log_history)
    assert len(expected) == len(got) == 4
    assert got == pytest.approx(expected, rel=1e-5)
    assert expected[2] != expected[0]


def _repeated_rows(tiny_build, n):
    from datasets import concatenate_datasets

    from rsgpt4v.data import load

    ds = load("vqa", "train", path=tiny_build).select([0])
    return concatenate_datasets([ds] * n)


def _one_sgd_step(model_dir, dataset, batch, accumulation, coef):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from rsgpt4v.training.collator import LlavaCollator
    from rsgpt4v.training.recipes import prepare_model
    from rsgpt4v.training.trainer import RSTrainer

    chosen = _small(
        "moe-lora",
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        router_aux_loss_coef=coef,
        lora_dropout=0.0,
        group_by_length=False,
        projector_lr=None,
    )
    torch.manual_seed(0)
    model = prepare_model(AutoModelForImageTextToText.from_pretrained(model_dir), chosen)
    for name, param in model.named_parameters():  # non-zero B so that the experts and routers get gradients
        if "moe_lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    processor = AutoProcessor.from_pretrained(model_dir)
    args = chosen.training_arguments("unused", optim="sgd", lr_scheduler_type="constant", warmup_steps=0, **CPU)
    trainer = RSTrainer(
        model=model, args=args, train_dataset=dataset, data_collator=LlavaCollator(processor), recipe=chosen
    )
    trainer.train()
    loss = _losses(trainer.state.log_history)[0]
    return loss, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_aux_loss_scaling_is_the_same_with_gradient_accumulation_1_and_4(tiny_model_dir, tiny_build):
    dataset = _repeated_rows(tiny_build, 8)  # identical micro-batches: the aux loss of each equals the full batch's
    loss_1, params_1 = _one_sgd_step(tiny_model_dir, dataset, 8, 1, coef=1.0)
    loss_4, params_4 = _one_sgd_step(tiny_model_dir, dataset, 2, 4, coef=1.0)
    loss_0, params_0 = _one_sgd_step(tiny_model_dir, dataset, 8, 1, coef=0.0)
    assert loss_4 == pytest.approx(loss_1, rel=1e-5)
    assert loss_1 - loss_0 > 0.5  # the aux loss (coefficient 1) is a visible part of the loss
    for name in params_1:
        torch.testing.assert_close(params_4[name], params_1[name], rtol=1e-4, atol=1e-6, msg=name)
    router = next(n for n in params_1 if "router" in n)
    assert not torch.allclose(params_1[router], params_0[router])  # the aux loss moves the routers


def test_projector_has_its_own_learning_rate(tiny_model_dir, tiny_build):
    from transformers import AutoModelForImageTextToText

    from rsgpt4v.training.recipes import prepare_model
    from rsgpt4v.training.trainer import RSTrainer

    chosen = _small("lora", learning_rate=2e-4, projector_lr=2e-5)
    model = prepare_model(AutoModelForImageTextToText.from_pretrained(tiny_model_dir), chosen)
    trainer = RSTrainer(model=model, args=chosen.training_arguments("unused", **CPU), recipe=chosen)
    optimizer = trainer.create_optimizer()
    projector = {id(p) for n, p in model.named_parameters() if "multi_modal_projector" in n and p.requires_grad}
    lrs = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lrs[id(p)] = group.get("lr", trainer.args.learning_rate)
    assert projector and all(lrs[i] == 2e-5 for i in projector)
    others = [lrs[i] for i in lrs if i not in projector]
    assert others and all(lr == 2e-4 for lr in others)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(p.requires_grad for p in model.parameters())


def test_task_routed_moe_lora_trains_with_task_ids(tiny_model_dir, tiny_build, tmp_path):
    from rsgpt4v.inference import Predictor

    out = tmp_path / "task"
    result = train(
        tiny_model_dir, tiny_build, out, _small("moe-lora", routing="task", max_steps=2), config="instruct", **CPU
    )
    assert result.global_step == 2
    assert json.loads((out / "adapter_config.json").read_text())["routing"] == "task"
    predictor = Predictor(tiny_model_dir, adapter=out, max_new_tokens=2)
    assert predictor.task_routed
    from PIL import Image

    assert isinstance(predictor.ask(Image.new("RGB", (32, 32)), "Is there a road?", task="vqa"), str)


def test_recipe_defaults_are_llava_1_5_and_overridable():
    full, lora, moe = recipe("full"), recipe("lora"), recipe("moe-lora")
    assert (full.learning_rate, full.projector_lr) == (2e-5, None)
    assert (lora.lora_r, lora.lora_alpha, lora.learning_rate, lora.projector_lr) == (128, 256, 2e-4, 2e-5)
    assert (moe.num_experts, moe.lora_r, moe.top_k, moe.lora_alpha / moe.lora_r) == (4, 32, 2, 2.0)
    for r in (full, lora, moe):
        assert (r.num_train_epochs, r.per_device_train_batch_size, r.warmup_ratio, r.weight_decay) == (1, 16, 0.03, 0)
        assert (r.max_length, r.image_aspect, r.bf16, r.gradient_checkpointing) == (2048, "pad", True, True)
    assert recipe("lora", lora_r=8).lora_r == 8
    with pytest.raises(ValueError, match="Unknown recipe setting.*lora_rank.*valid settings"):
        recipe("lora", lora_rank=8)
    with pytest.raises(ValueError, match="Unknown recipe 'qlora'"):
        recipe("qlora")
    args = recipe("moe-lora").training_arguments("o", use_cpu=True)
    assert args.activation_checkpointing_kwargs == {"use_reentrant": False} and args.remove_unused_columns is False
    assert args.lr_scheduler_type == "cosine" and not args.bf16


def test_generation_eval_callback_logs_vqa_accuracy(tiny_model_dir, tiny_build, tmp_path):
    from transformers import AutoProcessor

    from rsgpt4v.data import items, load
    from rsgpt4v.training.trainer import GenerationEvalCallback

    test_items = list(items(load("vqa", "test", path=tiny_build)))[:4]
    callback = GenerationEvalCallback(
        test_items, AutoProcessor.from_pretrained(tiny_model_dir), every_steps=1, max_new_tokens=2
    )
    result = train(
        tiny_model_dir,
        tiny_build,
        tmp_path / "cb",
        _small("lora", max_steps=2),
        config="vqa",
        callbacks=[callback],
        **CPU,
    )
    logged = [e for e in result.log_history if "gen_eval/vqa_accuracy" in e]
    assert [e["step"] for e in logged] == [1, 2, 2]  # every step, and at the end of training
    assert all(0.0 <= e["gen_eval/vqa_accuracy"] <= 1.0 for e in logged)
    types = {i["question_type"] for i in test_items}
    assert all(f"gen_eval/vqa_{t}" in logged[0] for t in types)
    with pytest.raises(ValueError, match="at least one item"):
        GenerationEvalCallback([], None)
