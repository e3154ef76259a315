"""Two-process DDP (gloo, CPU) with top-1 routing: no unused-parameter error, identical parameters on both ranks."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _train(rank, world_size, init_file, out_dir):
    from peft import get_peft_model
    from tiny_models import tiny_llama
    from torch.nn.parallel import DistributedDataParallel

    from rsgpt4v.moe_lora import MoELoraConfig

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    torch.manual_seed(0)
    config = MoELoraConfig(r=4, num_experts=4, top_k=1, init_lora_weights=False, router_z_loss_coef=0.001)
    model = get_peft_model(tiny_llama(), config)
    model.train()
    initial = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ddp = DistributedDataParallel(model)  # find_unused_parameters=False: every expert must get a gradient
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for step in range(3):
        g = torch.Generator().manual_seed(100 * rank + step)  # different data on each rank
        ids = torch.randint(4, 120, (2, 10), generator=g)
        mask = torch.ones_like(ids)
        mask[0, :3] = 0
        out = ddp(input_ids=ids, attention_mask=mask, labels=ids)
        (out.loss + model.moe_aux_loss()).backward()
        optimizer.step()
        optimizer.zero_grad()
    params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    changed = sum(not torch.equal(params[n], initial[n]) for n in params)
    torch.save({"params": params, "changed": changed, "total": len(params)}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    mp.spawn(_train, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert rank0["changed"] == rank0["total"] > 0  # every adapter tensor was updated
    assert rank0["params"].keys() == rank1["params"].keys()
    for name, value in rank0["params"].items():
        torch.testing.assert_close(rank1["params"][name], value, rtol=0, atol=0, msg=name)
