"""The performance switches change speed and memory, never the math: every switch, alone and together, gives the
plain DARTS formulation's outputs, gradients and BN statistics (float64, tight tolerances)."""

import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import pretext_tasks
from unnas.modules.strategies import SecondOrder
from unnas.spaces.darts import NetworkCIFAR, NetworkImageNet, Speedups, Supernet
from unnas.spaces.speedups import DepthwiseConv2d, apply_speedups, depthwise_pointwise, depthwise_weight_grad
from unnas.spaces.darts.supernet import darts_mixed_op

SWITCHES = [f.name for f in dataclasses.fields(Speedups)]
SETTINGS = {**{name: dataclasses.replace(Speedups.off(), **{name: True}) for name in SWITCHES}, "all": Speedups.on()}


def _close(a, b, tol=1e-10):
    assert a.shape == b.shape
    assert torch.allclose(a, b, rtol=tol, atol=tol), float((a - b).abs().max())


def test_defaults_and_off():
    assert all(getattr(Speedups.on(), n) for n in SWITCHES)
    assert not any(getattr(Speedups.off(), n) for n in SWITCHES)
    assert Speedups().unset() == tuple(SWITCHES)  # every switch chosen by device


@settings(max_examples=30, deadline=None)
@given(k=st.sampled_from([3, 5]), stride=st.sampled_from([1, 2]), dilation=st.sampled_from([1, 2]),
       channels_last=st.booleans(), size=st.integers(5, 11), batch=st.integers(1, 3))
def test_depthwise_weight_grad_equals_autograd(k, stride, dilation, channels_last, size, batch):
    pad = dilation * (k - 1) // 2
    x = torch.randn(batch, 3, size, size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(3, 1, k, k, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(x, w, None, stride, pad, dilation, groups=3)
    g = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, w, g)
    _close(depthwise_weight_grad(x, g, (k, k), (stride, stride), (pad, pad), (dilation, dilation)), expected)


@pytest.mark.parametrize("k,stride,dilation", [(3, 1, 1), (5, 1, 1), (3, 2, 1), (3, 1, 2), (5, 1, 2), (5, 2, 2), (3, 2, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [9, 8, 3])
def test_fast_depthwise_paths_match_plain_conv(k, stride, dilation, channels_last, size):
    conv = DepthwiseConv2d(4, k, stride, dilation * (k - 1) // 2, dilation).double()
    x = torch.randn(2, 4, size, size, dtype=torch.float64)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    results = []
    for fast, subsample, crop in itertools.product((False, True), repeat=3):
        conv.fast_backward, conv.subsample, conv.crop_kernel = fast, subsample, crop
        out = conv(x)
        gx, gw = torch.autograd.grad((out * out).sum(), [x, conv.weight])
        # the input gradient keeps the input's layout (a mixed layout sends batch norm down a slow path)
        assert gx.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        results.append((out, gx, gw))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            _close(a, b)


def test_subsample_applies_only_where_stride_equals_dilation():
    for (k, stride, dilation), expected in {(3, 2, 2): ((2, 2), (1, 1), (1, 1), (1, 1)),
                                            (5, 2, 2): ((2, 2), (1, 1), (2, 2), (1, 1)),
                                            (3, 1, 2): None, (3, 2, 1): None}.items():
        conv = DepthwiseConv2d(2, k, stride, dilation * (k - 1) // 2, dilation)
        conv.subsample = True
        sub, weight, *rest = conv.conv_args((8, 8))
        assert ((sub, *rest) if sub is not None else None) == expected


@pytest.mark.parametrize("k,dilation,size,kept", [(5, 2, 3, 3), (5, 2, 5, 5), (5, 1, 3, 5), (3, 2, 2, 1), (3, 2, 3, 3),
                                                  (5, 2, 4, 3), (7, 1, 3, 5)])
def test_crop_kernel_keeps_only_the_taps_that_reach_the_image(k, dilation, size, kept):
    conv = DepthwiseConv2d(2, k, 1, dilation * (k - 1) // 2, dilation)
    conv.crop_kernel = True
    _, weight, _, padding, _ = conv.conv_args((size, size))
    assert tuple(weight.shape[-2:]) == (kept, kept) and padding == (dilation * (kept - 1) // 2,) * 2
    x = torch.randn(1, 2, size, size)
    _close(conv(x), F.conv2d(x, conv.weight, None, 1, conv.padding, conv.dilation, 2), tol=1e-6)


@pytest.mark.parametrize("fast,subsample,crop", [(True, False, False), (False, True, False), (True, True, False),
                                                 (False, False, True), (True, False, True)])
def test_fast_depthwise_paths_pass_gradcheck(fast, subsample, crop):
    conv = DepthwiseConv2d(2, 5, 2 if subsample else 1, 4, 2).double()
    conv.fast_backward, conv.subsample, conv.crop_kernel = fast, subsample, crop
    x = torch.randn(1, 2, 3 if crop else 7, 3 if crop else 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda inp, w: torch.func.functional_call(conv, {"weight": w}, (inp,)), (x, conv.weight))


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("stride,subsample", [(1, False), (2, False), (2, True)])
def test_depthwise_pointwise_recomputes_instead_of_storing(fast, stride, subsample):
    dw = DepthwiseConv2d(4, 5, stride, 4, 2).double()
    dw.fast_backward, dw.subsample = fast, subsample
    pw = torch.nn.Conv2d(4, 6, 1, bias=False).double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    saved = {}

    def run(fn):
        count = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: count.append(t.numel()) or t, lambda t: t):
            out = fn()
        grads = torch.autograd.grad((out * out).sum(), [x, dw.weight, pw.weight])
        return out, grads, sum(count)

    plain_out, plain_grads, saved["plain"] = run(lambda: pw(dw(x)))
    fused_out, fused_grads, saved["fused"] = run(lambda: depthwise_pointwise(dw, pw, x))
    _close(plain_out, fused_out)
    for a, b in zip(plain_grads, fused_grads):
        _close(a, b)
    # the depthwise output is no longer stored
    assert saved["plain"] - saved["fused"] == dw(x).numel()


def _supernet_run(sp, x, y, train=True):
    torch.manual_seed(3)
    net = Supernet(C=4, num_classes=5, layers=4, speedups=sp).double()
    net.train(train)
    loss = F.cross_entropy(net(x), y)
    if train:
        loss.backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    return loss.detach(), grads, dict(net.named_buffers())


@pytest.mark.parametrize("name", list(SETTINGS))
def test_supernet_switch_keeps_loss_gradients_and_bn_statistics(name):
    x, y = torch.randn(3, 3, 12, 12, dtype=torch.float64), torch.tensor([0, 4, 2])
    loss0, grads0, bufs0 = _supernet_run(Speedups.off(), x, y)
    loss1, grads1, bufs1 = _supernet_run(SETTINGS[name], x, y)
    _close(loss0, loss1)
    assert grads0.keys() == grads1.keys() and bufs0.keys() == bufs1.keys()
    for n in grads0:
        _close(grads0[n], grads1[n])
    for n in bufs0:
        _close(bufs0[n].double(), bufs1[n].double())


@pytest.mark.parametrize("name", ["fold_weights", "all"])
def test_supernet_switch_keeps_eval_outputs(name):
    x, y = torch.randn(2, 3, 12, 12, dtype=torch.float64), torch.tensor([1, 3])
    _close(_supernet_run(Speedups.off(), x, y, train=False)[0], _supernet_run(SETTINGS[name], x, y, train=False)[0])


@pytest.mark.parametrize("stride", [1, 2])
def test_channels_last_with_folded_weights_gives_correct_input_gradients(stride):
    # Regression: PyTorch's CPU batch-norm backward reads garbage for a stride-0 (expanded) weight on a
    # channels-last input; the fold makes its weight contiguous.
    sp = dataclasses.replace(Speedups.off(), channels_last=True, fold_weights=True)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = torch.tensor([0.3, 0.2, 0.1, 0.4, 0.5, 0.6, 0.7, 0.8], dtype=torch.float64)
    grads = []
    for speedups, inp in ((Speedups.off(), x), (sp, x.contiguous(memory_format=torch.channels_last))):
        torch.manual_seed(0)
        op = darts_mixed_op(4, stride, speedups=speedups).double()
        apply_speedups(op, speedups)
        inp = inp.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(op(inp, w).pow(2).sum(), inp)[0])
    _close(*grads)


def test_supernet_defaults_store_at_most_six_tenths_of_the_activations():
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))

    def saved_bytes(sp):
        net = Supernet(C=8, layers=5, speedups=sp)
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage()
            return None  # no backward here; keeping the tensor would make reference cycles
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda packed: packed):
            F.cross_entropy(net(x), y)
        return sum(s.nbytes() for s in storages.values())

    assert saved_bytes(Speedups.on()) <= 0.6 * saved_bytes(Speedups.off())


def test_second_order_gradients_do_not_depend_on_switches():
    xt, yt = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1])
    xv, yv = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.tensor([1, 1])
    grads = []
    for sp in (Speedups.off(), Speedups.on()):
        torch.manual_seed(5)
        net = Supernet(C=4, num_classes=2, layers=3, speedups=sp).double()
        opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=3e-4)
        SecondOrder().arch_gradients(net, F.cross_entropy, (xt, yt), (xv, yv), opt)
        grads.append([a.grad.clone() for a in net.arch_parameters()])
    for a, b in zip(*grads):
        _close(a, b, tol=1e-7)


def test_state_dicts_are_interchangeable_between_settings():
    plain, fast = Supernet(C=4, layers=3, speedups=Speedups.off()), Supernet(C=4, layers=3)
    assert plain.state_dict().keys() == fast.state_dict().keys()
    fast.load_state_dict(plain.state_dict())
    plain.eval(), fast.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        _close(plain(x), fast(x), tol=1e-5)


@pytest.mark.parametrize("task", ["supervised", "rotation", "colorization", "jigsaw"])
def test_network_switches_keep_training_math_under_every_head(task):
    obj = {"supervised": lambda: pretext_tasks.Supervised(num_classes=10), "rotation": pretext_tasks.Rotation,
           "colorization": pretext_tasks.Colorization, "jigsaw": pretext_tasks.Jigsaw}[task]()
    images, labels = torch.rand(2, 3, 32, 32), torch.tensor([1, 2])
    x, y = obj.prepare(images, labels, train=True, generator=torch.Generator().manual_seed(0))
    results = []
    for sp in (Speedups.off(), Speedups.on()):
        torch.manual_seed(7)
        # (jigsaw tiles are too small for the auxiliary tower's 5x5 pooling)
        net = NetworkCIFAR("darts_v2", C=4, layers=4, auxiliary=task != "jigsaw", input_channels=obj.input_channels,
                           head=obj.head, speedups=sp).double()
        logits, aux = net(x.double())
        loss = obj.loss(logits, y) + (0.4 * obj.loss(aux, y) if aux is not None else 0)
        loss.backward()
        results.append((loss.detach(), [p.grad for p in net.parameters()]))
    _close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        _close(a, b)


def test_switches_work_under_bf16_autocast():
    # Lightning's bf16-mixed precision runs the forward under autocast; the custom backward passes must follow
    # it and stay as close to the float32 gradient as the plain formulation under autocast does.
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,))

    def grads(sp, amp):
        torch.manual_seed(2)
        net = Supernet(C=8, num_classes=4, layers=3, speedups=sp)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        assert all(p.grad.dtype == torch.float32 for p in net.parameters())
        return torch.cat([p.grad.flatten() for p in net.parameters()])

    exact = grads(Speedups.off(), False)
    plain = float(F.cosine_similarity(exact, grads(Speedups.off(), True), dim=0))
    fast = float(F.cosine_similarity(exact, grads(Speedups.on(), True), dim=0))
    assert plain > 0.98 and fast > plain - 0.005, (plain, fast)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_network_switch_keeps_training_math_with_strided_dilated_convs(name):
    # unnas500/00004 has dilated convs on the reduction cells' stride-2 edges (the subsample_strided path)
    x, y = torch.randn(2, 3, 16, 16, dtype=torch.float64), torch.tensor([3, 1])
    results = []
    for sp in (Speedups.off(), SETTINGS[name]):
        torch.manual_seed(4)
        net = NetworkCIFAR("unnas500/00004", C=4, layers=5, speedups=sp).double()
        loss = F.cross_entropy(net(x)[0], y)
        loss.backward()
        results.append((loss.detach(), [p.grad for p in net.parameters()], list(net.buffers())))
    _close(results[0][0], results[1][0])
    for a, b in zip(results[0][1] + results[0][2], results[1][1] + results[1][2]):
        _close(a.double(), b.double())


@pytest.mark.parametrize("supernet", [False, True])
def test_dense_grads_give_batch_norm_dense_gradients_in_the_activation_layout(supernet):
    def grad_layouts(dense):
        sp = dataclasses.replace(Speedups.off(), channels_last=True, dense_grads=dense)
        net = (Supernet(C=4, layers=3, speedups=sp) if supernet
               else NetworkCIFAR("unnas500/00004", C=4, layers=3, speedups=sp))
        dense_cl = []
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.register_full_backward_pre_hook(
                    lambda mod, g: dense_cl.append(g[0].is_contiguous(memory_format=torch.channels_last)))
        out = net(torch.randn(2, 3, 16, 16))
        (out[0] if isinstance(out, tuple) else out).sum().backward()
        return dense_cl

    assert all(grad_layouts(True))
    assert not all(grad_layouts(False))  # what the switch is for: the concatenation hands out strided slices


def test_imagenet_network_and_stem_keep_training_math_with_odd_and_tiny_maps():
    # 40x40 inputs: the stride-8 stems give 5x5 maps, then 3x3 and 2x2 (odd sizes for subsample_strided,
    # kernels wider than the map for crop_kernel and the shifted-product weight gradient)
    x, y = torch.randn(2, 3, 40, 40, dtype=torch.float64), torch.tensor([1, 0])
    results = []
    for sp in (Speedups.off(), Speedups.on()):
        torch.manual_seed(6)
        net = NetworkImageNet("unnas500/00004", C=8, num_classes=3, layers=4, speedups=sp).double()
        loss = F.cross_entropy(net(x)[0], y)
        torch.manual_seed(6)
        supernet = Supernet(C=4, num_classes=3, layers=3, stem="imagenet", speedups=sp).double()
        loss = loss + F.cross_entropy(supernet(x), y)
        loss.backward()
        results.append((loss.detach(), [p.grad for p in [*net.parameters(), *supernet.parameters()]]))
    _close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        _close(a, b)


SMALL_STRIDED_SCRIPT = """
import torch
from unnas.spaces import DartsSpace
torch.set_num_threads(1)
space = DartsSpace(channels=2, layers=3)  # stem 6 channels: FactorizedReduce's 1x1 stride-2 convs see 6 inputs
for _ in range(5):
    torch.manual_seed(0)
    net = space.network("unnas500/00004", num_classes=10)
    logits, _ = net(torch.randn(8, 3, 32, 32))
    logits.sum().backward()
print("ok")
"""


def test_small_strided_1x1_convs_run_in_the_default_layout_and_backward_survives():
    import subprocess
    import sys

    from unnas.spaces.speedups import SMALL_STRIDED_1X1_CHANNELS

    net = NetworkCIFAR(__import__("unnas.spaces.darts", fromlist=["x"]).get_genotype("unnas500/00004"), C=2,
                       num_classes=10, layers=3)
    small = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)
             and m.stride == (2, 2) and m.in_channels < SMALL_STRIDED_1X1_CHANNELS]
    assert small and all(m.weight.stride()[1:] == (1, 1, 1) for m in small)  # the default layout, not channels-last
    others = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m not in small and m.in_channels > 1]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in others)
    x = torch.randn(2, small[0].in_channels, 8, 8).contiguous(memory_format=torch.channels_last)
    assert torch.equal(small[0](x), F.conv2d(x.contiguous(), small[0].weight, stride=2))
    # oneDNN corrupts the heap on these convs' channels-last weight gradient: run it in a child process
    child = subprocess.run([sys.executable, "-c", SMALL_STRIDED_SCRIPT], capture_output=True, text=True, timeout=300,
                           env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-500:]
