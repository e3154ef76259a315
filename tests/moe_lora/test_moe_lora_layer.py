"""MoE-LoRA on a tiny Llama: equivalences, initialisation, gradients, PEFT life cycle, task routing and merging."""

import math
import subprocess
import sys

import pytest
import torch
from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model
from tiny_models import tiny_llama
from torch import nn

import rsgpt4v.moe_lora as moe_lora
from rsgpt4v.moe_lora import MoELoraConfig, MoELoraLayer

TARGETS = ["q_proj", "v_proj", "gate_proj", "down_proj"]


def inputs(seed=0, batch=3, length=12):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 120, (batch, length), generator=g)
    mask = torch.ones_like(ids)
    if batch > 1:
        mask[1, :4] = 0  # left padding in one sample
    return {"input_ids": ids, "attention_mask": mask}


def moe_model(seed=0, **config):
    config = {"r": 4, "lora_alpha": 8, "num_experts": 4, "top_k": 2, "target_modules": TARGETS, **config}
    torch.manual_seed(seed)
    return get_peft_model(tiny_llama(), MoELoraConfig(**config))


def layers(model):
    return [m for m in model.modules() if isinstance(m, MoELoraLayer)]


def test_one_expert_top1_equals_peft_lora_with_same_weights():
    batch = inputs()
    lora = get_peft_model(tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False))
    for fuse in (True, False):
        moe = moe_model(num_experts=1, top_k=1, init_lora_weights=False, fuse_router=fuse)
        lora_params = dict(lora.named_parameters())
        with torch.no_grad():
            for name, param in moe.named_parameters():
                if ".moe_lora_A." in name or ".moe_lora_B." in name:
                    param.copy_(lora_params[name.replace("moe_lora_", "lora_")])
        expected = lora(**batch).logits
        assert not torch.allclose(expected, tiny_llama()(**batch).logits, atol=1e-3)  # the adapter does something
        torch.testing.assert_close(moe(**batch).logits, expected, rtol=1e-5, atol=1e-5)


def test_dense_routing_equals_top_k_with_k_equal_to_num_experts():
    batch = inputs()
    dense = moe_model(top_k=None, init_lora_weights=False)
    top_all = moe_model(top_k=4, init_lora_weights=False, seed=1)
    top_all.load_state_dict(dense.state_dict())
    torch.testing.assert_close(top_all(**batch).logits, dense(**batch).logits, rtol=1e-5, atol=1e-6)
    top2 = moe_model(top_k=2, init_lora_weights=False, seed=1)
    top2.load_state_dict(dense.state_dict())
    assert not torch.allclose(top2(**batch).logits, dense(**batch).logits, atol=1e-4)


@pytest.mark.parametrize("routing", ["token", "task"])
def test_identity_at_initialisation(routing):
    batch = inputs()
    base = tiny_llama()(**batch).logits
    model = moe_model(routing=routing)
    task_ids = {"task_ids": torch.tensor([0, 1, 2])} if routing == "task" else {}
    torch.testing.assert_close(model(**batch, **task_ids).logits, base, rtol=0, atol=0)
    assert all(torch.count_nonzero(layer.moe_lora_B["default"].weight) == 0 for layer in layers(model))


def test_gradients_reach_every_expert_and_the_router():
    model = moe_model(init_lora_weights=False, router_aux_loss_coef=0.01)
    model.train()
    batch = inputs(batch=4, length=16)
    out = model(**batch, labels=batch["input_ids"])
    (out.loss + model.moe_aux_loss()).backward()
    for layer in layers(model):
        E, r = 4, 4
        a_grad = layer.moe_lora_A["default"].weight.grad.view(E, r, -1)
        b_grad = layer.moe_lora_B["default"].weight.grad.view(-1, E, r)
        for e in range(E):
            assert a_grad[e].abs().sum() > 0, f"expert {e} of A got no gradient"
            assert b_grad[:, e].abs().sum() > 0, f"expert {e} of B got no gradient"
        assert layer.moe_lora_router["default"].weight.grad.abs().sum() > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("moe_lora_" in n for n in trainable)


class OneLinear(nn.Module):
    """A model with a single target linear, whose forward takes an attention mask like a transformers model."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)

    def forward(self, x, attention_mask=None):
        return self.lin(x)


def test_aux_loss_matches_hand_computation_and_ignores_padding():
    config = MoELoraConfig(
        r=1, lora_alpha=1, num_experts=2, top_k=1, target_modules=["lin"], router_aux_loss_coef=0.5,
        router_z_loss_coef=0.1,
    )  # fmt: skip
    model = get_peft_model(OneLinear(), config)
    layer = model.base_model.model.lin
    with torch.no_grad():
        layer.moe_lora_router["default"].weight.copy_(torch.eye(2))  # logits = x
    x = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [50.0, -50.0]]])  # last token is padding
    mask = torch.tensor([[1, 1, 1, 0]])
    model(x, attention_mask=mask)

    def softmax(a, b):
        return [math.exp(a) / (math.exp(a) + math.exp(b)), math.exp(b) / (math.exp(a) + math.exp(b))]

    probs = [softmax(2, 0), softmax(0, 1), softmax(1, 0)]
    f = [2 / 3, 1 / 3]  # tokens 1 and 3 pick expert 0, token 2 picks expert 1
    P = [sum(p[i] for p in probs) / 3 for i in range(2)]
    z = sum(math.log(math.exp(a) + math.exp(b)) ** 2 for a, b in [(2, 0), (0, 1), (1, 0)]) / 3
    expected = 0.5 * 2 * (f[0] * P[0] + f[1] * P[1]) + 0.1 * z
    assert model.moe_aux_loss().item() == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(model.expert_load()["lin"], torch.tensor(f))

    x_other_padding = x.clone()
    x_other_padding[0, 3] = torch.tensor([-50.0, 50.0])
    model(x_other_padding, attention_mask=mask)
    assert model.moe_aux_loss().item() == pytest.approx(expected, rel=1e-6)
    model(x_other_padding)  # without a mask the padding token counts and changes the loss
    assert model.moe_aux_loss().item() != pytest.approx(expected, rel=1e-3)


class TwoLinears(nn.Module):
    """Two target linears in a row (two adapted layers, two routers)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 2)
        self.second = nn.Linear(2, 3)

    def forward(self, x, attention_mask=None):
        return self.second(self.first(x))


def test_aux_loss_is_the_mean_over_adapted_layers():
    config = MoELoraConfig(
        r=1, lora_alpha=1, num_experts=2, top_k=1, target_modules=["first", "second"], router_aux_loss_coef=0.5
    )  # fmt: skip
    torch.manual_seed(0)
    model = get_peft_model(TwoLinears(), config)
    model(torch.randn(1, 6, 2))
    per_layer = [
        0.5 * model.base_model.model.get_submodule(name).current_stats("default").balance_loss().item()
        for name in ("first", "second")
    ]
    assert per_layer[0] != pytest.approx(per_layer[1], rel=1e-3)
    assert model.moe_aux_loss().item() == pytest.approx(sum(per_layer) / 2, rel=1e-6)


def test_aux_loss_is_zero_with_adapters_disabled():
    model = moe_model()
    with model.disable_adapter():
        model(**inputs())
    assert model.moe_aux_loss().item() == 0.0


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = moe_model(init_lora_weights=False, routing="token", top_k=2)
    batch = inputs()
    expected = model(**batch).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").exists()
    config = PeftConfig.from_pretrained(tmp_path)
    assert isinstance(config, MoELoraConfig)
    assert (config.peft_type, config.num_experts, config.top_k, config.r) == ("MOELORA", 4, 2, 4)
    loaded = PeftModel.from_pretrained(tiny_llama(), tmp_path)
    torch.testing.assert_close(loaded(**batch).logits, expected, rtol=0, atol=0)


def test_add_switch_delete_and_disable_adapters_behave_like_lora():
    batch = inputs()
    base = tiny_llama()(**batch).logits
    model = moe_model(init_lora_weights=False)
    first = model(**batch).logits
    model.add_adapter(
        "second", MoELoraConfig(r=2, num_experts=3, top_k=1, target_modules=TARGETS, init_lora_weights=False)
    )
    torch.testing.assert_close(model(**batch).logits, first)  # adding does not activate
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".second." in n)
    model.set_adapter("second")
    second = model(**batch).logits
    assert not torch.allclose(second, first, atol=1e-4)
    assert all(p.requires_grad for n, p in model.named_parameters() if ".second." in n)
    with model.disable_adapter():
        torch.testing.assert_close(model(**batch).logits, base)
    model.set_adapter("default")
    torch.testing.assert_close(model(**batch).logits, first)
    model.delete_adapter("second")
    assert not any(".second." in n for n, _ in model.named_parameters())
    torch.testing.assert_close(model(**batch).logits, first)


def test_adapters_stay_in_the_base_dtype_and_run_in_bfloat16():
    model = get_peft_model(
        tiny_llama(dtype=torch.bfloat16), MoELoraConfig(r=4, target_modules=TARGETS, init_lora_weights=False)
    )
    assert {p.dtype for n, p in model.named_parameters() if "moe_lora_" in n} == {torch.bfloat16}
    batch = inputs()
    model.train()
    out = model(**batch, labels=batch["input_ids"])
    (out.loss + model.moe_aux_loss()).backward()
    assert torch.isfinite(out.loss) and out.logits.dtype == torch.bfloat16
    assert all(layer.router_stats["default"].importance.dtype == torch.float32 for layer in layers(model))


def test_task_routing_uses_task_ids_and_merges_to_identical_outputs():
    model = moe_model(routing="task", num_tasks=3, top_k=2, init_lora_weights=False)
    batch = inputs()
    outputs = [model(**batch, task_ids=torch.full((3,), t)).logits for t in range(3)]
    assert not torch.allclose(outputs[0], outputs[1], atol=1e-4)
    mixed = model(**batch, task_ids=torch.tensor([0, 1, 2])).logits
    for sample in range(3):
        torch.testing.assert_close(mixed[sample], outputs[sample][sample], rtol=1e-5, atol=1e-6)
    with model.route_tasks(1):
        torch.testing.assert_close(model(**batch).logits, outputs[1])
    with pytest.raises(ValueError, match="got no `task_ids`"):
        model(**batch)
    with pytest.raises(ValueError, match=r"`task_ids` must be in 0..2"):
        model(**batch, task_ids=torch.tensor([0, 1, 3]))
    with pytest.raises(ValueError, match="pass the task to merge"):
        model.merge_and_unload()
    merged = model.merge_and_unload(task_id=1)
    assert not any(isinstance(m, MoELoraLayer) for m in merged.modules())
    torch.testing.assert_close(merged(**batch).logits, outputs[1], rtol=1e-4, atol=1e-5)


def test_task_ids_reach_generate():
    model = moe_model(routing="task", num_tasks=3, top_k=1, init_lora_weights=False)
    with torch.no_grad():
        for layer in layers(model):
            layer.moe_lora_B["default"].weight.mul_(30)  # make the tasks' outputs diverge quickly
    prompt = inputs(batch=1, length=6)
    runs = {
        t: model.generate(**prompt, task_ids=torch.tensor([t]), max_new_tokens=8, do_sample=False) for t in range(3)
    }
    with model.route_tasks(2):
        torch.testing.assert_close(model.generate(**prompt, max_new_tokens=8, do_sample=False), runs[2])
    assert len({tuple(r[0].tolist()) for r in runs.values()}) > 1


def test_merge_adapter_and_unmerge_restore_the_base_weights():
    model = moe_model(routing="task", num_tasks=2, init_lora_weights=False)
    batch = inputs()
    before = model(**batch, task_ids=torch.tensor([1, 1, 1])).logits
    weight = layers(model)[0].get_base_layer().weight.detach().clone()
    model.merge_adapter(task_id=1)
    torch.testing.assert_close(model(**batch, task_ids=torch.tensor([0, 0, 0])).logits, before, atol=1e-5, rtol=1e-4)
    model.unmerge_adapter()
    torch.testing.assert_close(layers(model)[0].get_base_layer().weight, weight, atol=1e-6, rtol=0)


def test_token_routing_cannot_be_merged():
    model = moe_model()
    with pytest.raises(ValueError, match="routing='token' and cannot be merged"):
        model.merge_and_unload()
    with pytest.raises(ValueError, match="routing='token' and cannot be merged"):
        model.merge_and_unload(task_id=0)


def test_unload_removes_layers_hook_and_generate_wrapper():
    model = moe_model(init_lora_weights=False)
    batch = inputs()
    base = model.unload()
    assert "generate" not in base.__dict__
    assert not base._forward_pre_hooks
    torch.testing.assert_close(base(**batch).logits, tiny_llama()(**batch).logits)


def test_llama_defaults_target_every_attention_and_mlp_linear(capsys):
    model = get_peft_model(tiny_llama(), MoELoraConfig(r=2, num_experts=3))
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, MoELoraLayer)}
    assert names == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    model.print_trainable_parameters()
    # per layer: q/k/v/o (32 -> 32), gate/up (32 -> 48), down (48 -> 32); A: d_in x 6, B: 6 x d_out, router: d_in x 3
    per_layer = 4 * (32 * 6 + 6 * 32 + 32 * 3) + 2 * (32 * 6 + 6 * 48 + 32 * 3) + (48 * 6 + 6 * 32 + 48 * 3)
    assert f"trainable params: {2 * per_layer:,d}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 5}, r"`top_k` must be an integer in 1..num_experts=4"),
        ({"top_k": 0}, r"`top_k` must be"),
        ({"routing": "sample"}, r"`routing` must be one of"),
        ({"r": 0}, r"`r` must be a positive integer"),
        ({"num_experts": 0}, r"`num_experts` must be a positive integer"),
        ({"routing": "task", "num_tasks": 0}, r"`num_tasks` must be a positive integer"),
        ({"lora_dropout": 1.0}, r"`lora_dropout` must be in \[0, 1\)"),
        ({"router_aux_loss_coef": -1}, r"must be >= 0"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MoELoraConfig(**kwargs)


def test_task_routing_defaults_to_the_schema_tasks():
    from rsgpt4v.schema import Task

    assert MoELoraConfig(routing="task").num_tasks == len(Task)


def test_unsupported_peft_version_is_a_clear_error(monkeypatch):
    import peft

    monkeypatch.setattr(peft, "__version__", "0.20.0")
    with pytest.raises(ImportError, match=r"supports peft >=0.21.0,<0.22, but peft 0.20.0 is installed"):
        moe_lora._check_peft_version()
    monkeypatch.setattr(peft, "__version__", "0.21.0")
    moe_lora._check_peft_version()


def test_importing_registers_the_method():
    from peft import mapping

    assert mapping.PEFT_TYPE_TO_CONFIG_MAPPING["MOELORA"] is MoELoraConfig
    assert mapping.PEFT_TYPE_TO_TUNER_MAPPING["MOELORA"] is moe_lora.MoELoraModel
    assert mapping.PEFT_TYPE_TO_PREFIX_MAPPING["MOELORA"] == "moe_lora_"


@pytest.mark.slow
def test_import_rsgpt4v_is_light_and_moe_lora_import_registers():
    code = (
        "import sys, rsgpt4v; light = 'torch' not in sys.modules; "
        "import rsgpt4v.moe_lora; from peft import mapping; "
        "print(light, mapping.PEFT_TYPE_TO_CONFIG_MAPPING['MOELORA'].__name__, "
        "mapping.PEFT_TYPE_TO_TUNER_MAPPING['MOELORA'].__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "MoELoraConfig", "MoELoraModel"]
