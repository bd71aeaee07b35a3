"""DARTS search through Lightning: tiny supernets on generated images."""

from unnas.spaces import DartsSpace
import json
import os

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from conftest import TASKS, CrashAtSecondEpoch, generated, write_config
from pretext_tasks import Supervised
from unnas.cli import main
from unnas.data import Generated, ImageDataModule
from unnas.modules import WeightSharingSearch, FirstOrder, SecondOrder
from unnas.spaces.darts import load_genotype


def tiny_search(objective=None, strategy=None, **kw):
    return WeightSharingSearch(objective or Supervised(num_classes=4), space=DartsSpace(channels=4, layers=3),
                               search_strategy=strategy, arch_lr=0.01, **kw)


def tiny_data(**kw):
    return ImageDataModule(Generated(train_size=32, test_size=8), batch_size=8, train_portion=0.5, **kw)


def trainer(tmp_path, epochs=1, **kw):
    return Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path), **kw)


@pytest.mark.parametrize("strategy", [FirstOrder(), SecondOrder()], ids=["first_order", "second_order"])
def test_search_moves_alphas_and_yields_a_valid_genotype(tmp_path, strategy):
    seed_everything(0)
    model = tiny_search(strategy=strategy)
    before = [a.detach().clone() for a in model.supernet.arch_parameters()]
    trainer(tmp_path).fit(model, tiny_data())
    after = model.supernet.arch_parameters()
    assert all((a - b).abs().max() > 1e-4 for a, b in zip(after, before))
    assert model.search_steps == 2  # 16 weight images / batch 8
    g = model.genotype()
    assert len(g.normal) == len(g.reduce) == 8 and g.normal_concat == (2, 3, 4, 5)
    assert load_genotype(str(tmp_path / "genotype.json")) == g
    history = json.load(open(tmp_path / "alphas.json"))
    assert len(history["epochs"]) == 1 and os.path.exists(tmp_path / "cells" / "epoch_000.png")
    assert os.path.exists(tmp_path / "alphas" / "epoch_000.png")
    assert os.path.getsize(tmp_path / "alphas_evolution.png") > 1000


def test_weights_and_alphas_use_separate_optimisers():
    model = tiny_search()
    model.trainer = Trainer(max_epochs=3, logger=False)
    (w_opt, a_opt), _ = model.configure_optimizers()
    w_ids = {id(p) for g in w_opt.param_groups for p in g["params"]}
    a_ids = {id(p) for g in a_opt.param_groups for p in g["params"]}
    assert a_ids == {id(model.supernet.alphas_normal), id(model.supernet.alphas_reduce)}
    assert not (w_ids & a_ids) and len(w_ids) == len(list(model.supernet.weight_parameters()))
    assert type(a_opt).__name__ == "Adam" and a_opt.param_groups[0]["betas"] == (0.5, 0.999)
    assert a_opt.param_groups[0]["weight_decay"] == 1e-3 and w_opt.param_groups[0]["weight_decay"] == 3e-4


def _batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(8, 3, 16, 16, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    return (x[:4], y[:4]), (x[4:], y[4:])


def test_second_order_matches_the_exact_hypergradient():
    """The finite-difference step approximates d/dalpha L_val(w - eta * dL_train/dw, alpha) (no momentum, no wd).

    A tiny network on 4 images has BN statistics over few values and so strong curvature: DARTS's r = 0.01 is
    too coarse to referee the formula there, so the check runs in float64 with r = 1e-5, on the smooth ops
    (with `none` or max pooling in the mix, central differences and autograd's mixed second derivative
    disagree at every step size tried, so neither can referee the other).
    """
    torch.manual_seed(0)
    from unnas.spaces.darts import Supernet

    net = Supernet(C=4, num_classes=4, layers=3,
                   primitives=("skip_connect", "avg_pool_3x3", "sep_conv_3x3", "dil_conv_3x3")).double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0, 0.5)
    loss_fn = torch.nn.functional.cross_entropy
    train, val = _batches()
    train, val = (train[0].double(), train[1]), (val[0].double(), val[1])
    eta = 0.1
    opt = torch.optim.SGD(net.weight_parameters(), lr=eta, momentum=0.0, weight_decay=0.0)
    state = {k: v.clone() for k, v in net.state_dict().items()}

    SecondOrder(r=1e-5).arch_gradients(net, loss_fn, train, val, opt)
    approx = [a.grad.clone() for a in net.arch_parameters()]
    net.load_state_dict(state)

    from torch.func import functional_call
    names, ws = zip(*[(n, p) for n, p in net.named_parameters() if "alphas" not in n])
    bufs = {n: b.clone() for n, b in net.named_buffers()}
    lt = loss_fn(functional_call(net, {**dict(zip(names, ws)), **bufs}, (train[0],)), train[1])
    grads = torch.autograd.grad(lt, ws, create_graph=True, allow_unused=True)
    unrolled = [w - eta * g if g is not None else w for w, g in zip(ws, grads)]
    bufs = {n: b.clone() for n, b in net.named_buffers()}
    lv = loss_fn(functional_call(net, {**dict(zip(names, unrolled)), **bufs}, (val[0],)), val[1])
    exact = torch.autograd.grad(lv, net.arch_parameters())
    for a, e in zip(approx, exact):
        assert torch.allclose(a, e, rtol=1e-3, atol=1e-6), (a - e).abs().max()
    # and the implicit term matters: first order differs
    FirstOrder().arch_gradients(net, loss_fn, train, val, opt)
    first = [a.grad for a in net.arch_parameters()]
    assert max((f - e).abs().max() for f, e in zip(first, exact)) > 1e-4


def test_second_order_with_zero_lr_equals_first_order():
    torch.manual_seed(0)
    from unnas.spaces.darts import Supernet

    net = Supernet(C=4, num_classes=4, layers=3)
    train, val = _batches(1)
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.0, momentum=0.9, weight_decay=3e-4)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    SecondOrder().arch_gradients(net, torch.nn.functional.cross_entropy, train, val, opt)
    second = [a.grad.clone() for a in net.arch_parameters()]
    net.load_state_dict(state)
    FirstOrder().arch_gradients(net, torch.nn.functional.cross_entropy, train, val, opt)
    for s, f in zip(second, [a.grad for a in net.arch_parameters()]):
        assert torch.allclose(s, f, atol=1e-6)


def test_second_order_leaves_weights_and_bn_statistics_untouched():
    torch.manual_seed(0)
    from unnas.spaces.darts import Supernet

    net = Supernet(C=4, num_classes=4, layers=3)
    train, val = _batches(2)
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    SecondOrder().arch_gradients(net, torch.nn.functional.cross_entropy, train, val, opt)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_arch_updates_wait_for_the_warm_up(tmp_path):
    seed_everything(0)
    model = tiny_search(arch_start_epoch=1.0)
    before = [a.detach().clone() for a in model.supernet.arch_parameters()]
    trainer(tmp_path).fit(model, tiny_data())
    assert all(torch.equal(a, b) for a, b in zip(model.supernet.arch_parameters(), before))


def test_resume_continues_exactly(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint


    def run(root, callbacks=(), ckpt=None):
        model = tiny_search()
        trainer(root, epochs=2, callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True), *callbacks]).fit(
            model, tiny_data(), ckpt_path=ckpt)
        return model

    seed_everything(0)
    full = run(tmp_path / "full")
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "part", callbacks=[CrashAtSecondEpoch()])
    seed_everything(123)  # a different process state: everything must come from the checkpoint
    resumed = run(tmp_path / "part", ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    assert resumed.search_steps == full.search_steps == 4
    for a, b in zip(resumed.supernet.arch_parameters(), full.supernet.arch_parameters()):
        assert torch.equal(a, b)
    for (n, a), b in zip(resumed.supernet.named_parameters(), full.supernet.parameters()):
        assert torch.equal(a, b), n
    assert resumed.genotype() == full.genotype()
    assert [e["epoch"] for e in resumed.alpha_history] == [0, 1]


def test_search_needs_the_split(tmp_path):
    with pytest.raises(RuntimeError, match="train_portion"):
        trainer(tmp_path).fit(tiny_search(), ImageDataModule(Generated(train_size=16, test_size=8), batch_size=8))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_search_through_the_cli_with_every_objective(in_tmp, task):
    cfg = write_config(in_tmp, {"class_path": "unnas.modules.WeightSharingSearch",
                                "init_args": {"objective": TASKS[task], "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}}},
                       {"source": generated(), "batch_size": 8, "train_portion": 0.5}, name=f"search_{task}",
                       limit_train_batches=1, limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 0
    run = in_tmp / "runs" / f"search_{task}" / "version_0"
    assert load_genotype(str(run / "genotype.json")).normal_concat == (2, 3, 4, 5)
    assert load_genotype(str(run / "checkpoints" / "genotype.json")) == load_genotype(str(run / "genotype.json"))
    assert (run / "lightning_config.yaml").exists() and (run / "cells" / "epoch_000.png").exists()


def test_second_order_from_the_command_line(in_tmp):
    cfg = write_config(in_tmp, {"class_path": "unnas.modules.WeightSharingSearch",
                                "init_args": {"objective": TASKS["supervised"], "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}}},
                       {"source": generated(), "batch_size": 8, "train_portion": 0.5}, name="so", limit_train_batches=1,
                       limit_val_batches=1)
    assert main(["fit", "-c", cfg, "--model.init_args.search_strategy=SecondOrder"]) == 0
    saved = (in_tmp / "runs" / "so_second_order" / "version_0" / "lightning_config.yaml").read_text()
    assert "SecondOrder" in saved
