"""Speed switches chosen by device: the per-device choices, the config's explicit switches kept, switching a built
network in place, and the plain and fused paths exact to each other on every device present (CUDA skipped
without one)."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from unnas.errors import ConfigError
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.darts import NetworkCIFAR, Speedups, Supernet
from unnas.spaces.nb201.supernet import NB201Supernet
from unnas.spaces.speedups import DEVICE_DEFAULTS, DepthwiseConv2d, set_speedups_

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def test_each_device_type_has_its_choice_and_others_get_the_plain_formulation():
    assert DartsSpace().speedups_for("cpu") == Speedups.on()
    assert DartsSpace().speedups_for(torch.device("cuda")) == Speedups.off()
    assert DartsSpace().speedups_for("mps") == Speedups.off()
    assert NB201Space().speedups_for("cuda") == Speedups.on()  # measured faster there
    assert DEVICE_DEFAULTS["cpu"] == Speedups.on()


def test_switches_set_in_the_config_are_kept_on_every_device():
    space = DartsSpace(speedups=Speedups(channels_last=True, recompute_depthwise=False, fold_weights="auto"))
    on_cuda, on_cpu = space.speedups_for("cuda"), space.speedups_for("cpu")
    assert on_cuda.channels_last is True and on_cuda.recompute_depthwise is False and on_cuda.fold_weights is False
    assert on_cpu.channels_last is True and on_cpu.recompute_depthwise is False and on_cpu.fold_weights is True
    assert space.speedups.unset() == tuple(n for n in Speedups().unset() if n not in ("channels_last",
                                                                                         "recompute_depthwise"))


def test_a_bad_switch_value_is_one_line():
    with pytest.raises(ConfigError, match="true, false or auto"):
        Speedups(dense_grads="fast")


def _loss_and_grads(net, x, y):
    net.zero_grad()
    loss = F.cross_entropy(net(x) if not isinstance(net(x), tuple) else net(x)[0], y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


def _close(a, b, tol=1e-9):
    assert torch.allclose(a, b, rtol=tol, atol=tol), float((a - b).abs().max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_plain_and_fused_supernets_are_exact_on_every_device(device, space):
    """Both choices (the device's and the other one) against the plain formulation, in float64 on *device*."""
    x = torch.randn(3, 3, 12, 12, dtype=torch.float64, device=device)
    y = torch.tensor([0, 4, 2], device=device)
    chosen = (DartsSpace() if space == "darts" else NB201Space()).speedups_for(device)
    results = {}
    for name, sp in (("plain", Speedups.off()), ("fused", Speedups.on()), ("device", chosen)):
        torch.manual_seed(3)
        net = (Supernet(C=4, num_classes=5, layers=4, speedups=sp) if space == "darts" else
               NB201Supernet(C=4, N=1, num_classes=5, speedups=sp))
        set_speedups_(net, sp)  # re-chosen after the build, as on a device move
        net = net.double().to(device)
        results[name] = _loss_and_grads(net, x, y)
    for name in ("fused", "device"):
        _close(results["plain"][0], results[name][0])
        assert results["plain"][1].keys() == results[name][1].keys()
        for n, g in results["plain"][1].items():
            _close(g, results[name][1][n])


def test_switching_a_built_network_in_place_matches_a_fresh_build_and_keeps_the_parameters():
    torch.manual_seed(0)
    net = NetworkCIFAR(C=4, num_classes=5, layers=3, auxiliary=False, genotype=DartsSpace().load("darts_v2"),
                       speedups=Speedups.on()).double()
    params = [id(p) for p in net.parameters()]
    x, y = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.tensor([1, 3])
    fused = _loss_and_grads(net, x, y)
    set_speedups_(net, Speedups.off())
    assert [id(p) for p in net.parameters()] == params
    assert all(p.is_contiguous() for p in net.parameters())
    assert not any(m.fast_backward or m.subsample or m.crop_kernel for m in net.modules()
                   if isinstance(m, DepthwiseConv2d))
    assert all(m.speedups == Speedups.off() for m in net.modules() if isinstance(getattr(m, "speedups", None), Speedups))
    plain = _loss_and_grads(net, x, y)
    _close(fused[0], plain[0])
    for n in fused[1]:
        _close(fused[1][n], plain[1][n])
    set_speedups_(net, Speedups.on())
    assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


class _Trainer(SimpleNamespace):
    pass


def test_the_training_module_chooses_the_trainers_device_prints_one_line_and_records_it(capsys):
    import pretext_tasks
    from unnas.modules import ArchTraining

    logged = []
    module = ArchTraining(objective=pretext_tasks.Supervised(), arch="darts_v2",
                          space=DartsSpace(channels=4, layers=3, speedups=Speedups(channels_last=True)))
    assert module.net.speedups == Speedups.on()  # built on the CPU with its choice
    module._trainer = _Trainer(strategy=SimpleNamespace(root_device=torch.device("cuda")), is_global_zero=True,
                               loggers=[SimpleNamespace(log_hyperparams=logged.append)])
    try:
        record = module.choose_speedups(module.net)
    finally:
        module._trainer = None
    assert module.net.speedups == Speedups(**{**Speedups.off().as_dict(), "channels_last": True})
    assert record["device"] == "cuda" and record["channels_last"] is True and record["dense_grads"] is False
    assert "channels_last" not in record["by_device"] and "dense_grads" in record["by_device"]
    assert logged == [{"speedups": record}]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("unnas: speed switches")]
    assert lines == ["unnas: speed switches on cuda: on: channels_last (8 chosen by device)"]
    assert module.result()["speedups"] == record
