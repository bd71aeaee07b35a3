"""NAS-Bench-201's evaluation network: exact parameter counts against the benchmark, multiply-adds derived by hand,
the official block structure, every objective's head at 32x32 and 16x16, and the channels-last switch."""

import json
import os

import pytest
import torch
from torch import nn

import pretext_tasks
from unnas.spaces.complexity import count_macs, count_params
from pretext_tasks.heads import ClassifierHead, classifier_head
from unnas.spaces.nb201 import NB201Space, NB201Supernet, TinyNetwork, parse_cell
from unnas.spaces.nb201.networks import InferCell
from unnas.spaces.nb201.ops import OPS, PRIMITIVES, ReLUConvBN, ResNetBasicblock, Zero
from unnas.spaces.speedups import Speedups

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "unnas", "spaces", "nb201", "data",
                     "nb201_naslib_zc.json")
EXAMPLE = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}


def _no_init(monkeypatch):
    """Skip the random initialisation of convs, BNs and linears: shapes (and so counts) are unchanged, and building
    1,473 networks gets cheap enough for the test budget."""
    for cls in (nn.Conv2d, nn.BatchNorm2d, nn.Linear):
        monkeypatch.setattr(cls, "reset_parameters", lambda self: None)


# --------------------------------------------------------------------------------------- parameters
def test_params_equal_the_benchmark_for_all_491_cells_and_3_datasets(monkeypatch):
    with open(TABLE, encoding="utf-8") as f:
        table = json.load(f)["nasbench201"]
    _no_init(monkeypatch)
    checked = 0
    for key in table["cifar10"]:
        net = TinyNetwork(parse_cell(key), C=16, N=5, num_classes=10, speedups=Speedups.off())
        for dataset, classes in CLASSES.items():
            # the 100- and 120-class networks differ only in the default head: swap it in (building the whole
            # network three times would triple this test's time); test_num_classes_reaches_the_head covers the rest
            net.head = classifier_head(classes)(net.out_channels)
            assert round(count_params(net) / 1e6, 6) == table[dataset][key]["params"], (dataset, key)
            checked += 1
    assert checked == 491 * 3


def test_num_classes_reaches_the_head():
    for classes in CLASSES.values():
        net = TinyNetwork(RESNET, num_classes=classes)
        assert net.head.classifier.out_features == classes and net.head.classifier.in_features == 64
        swapped = TinyNetwork(RESNET, num_classes=10)
        swapped.head = classifier_head(classes)(swapped.out_channels)
        assert count_params(net) == count_params(swapped)


def test_params_of_the_spaces_md_example():
    assert count_params(TinyNetwork(EXAMPLE)) == 101_306
    assert count_params(NB201Space().network(EXAMPLE)) == 101_306


def test_params_by_hand():
    # cell-independent: stem 3*16*9 + BN 2*16; block 16->32: convs 9*16*32 + 9*32*32 + BNs 2*(2*32) + 1x1 16*32;
    # block 32->64 likewise; lastact BN 2*64; linear 64*10 + 10
    fixed = (432 + 32) + (4608 + 9216 + 128 + 512) + (18432 + 36864 + 256 + 2048) + 128 + 650
    assert count_params(TinyNetwork(ALL_NONE)) == fixed == 73_306
    # one 1x1 conv (C*C weights + affine BN 2C) in each of the 5 cells of each stage: 5 * (288 + 1088 + 4224)
    assert count_params(TinyNetwork(EXAMPLE)) == fixed + 5 * (16 * 16 + 32 + 32 * 32 + 64 + 64 * 64 + 128)


# --------------------------------------------------------------------------------------- multiply-adds
def _macs_by_hand(n3: int, n1: int, size: int, classes: int) -> int:
    """Conv2d + Linear multiply-adds of TinyNetwork(C=16, N=5) for one 3 x size x size image with n3 3x3 and n1 1x1
    convs per cell. A conv costs out_channels * H_out * W_out * in_channels * k * k."""
    a1, a2, a3 = size * size, (size // 2) ** 2, (size // 4) ** 2  # areas of the three stages
    stem = 16 * a1 * 3 * 9
    block1 = 32 * a2 * 16 * 9 + 32 * a2 * 32 * 9 + 32 * a2 * 16  # conv_a (stride 2), conv_b, 1x1 shortcut
    block2 = 64 * a3 * 32 * 9 + 64 * a3 * 64 * 9 + 64 * a3 * 32
    linear = 64 * classes
    # a cell conv at stage s has C_s in and out channels on area a_s; 5 cells per stage
    cells = 5 * sum(n3 * c * c * 9 * a + n1 * c * c * a for c, a in ((16, a1), (32, a2), (64, a3)))
    return stem + block1 + block2 + linear + cells


@pytest.mark.parametrize("arch,n3,n1,size,classes,expected", [
    # 32x32, 10 classes: fixed part 442,368 + 2 * 3,670,016 + 640 = 7,783,040; every cell conv costs 2,359,296
    # (3x3) or 262,144 (1x1) whatever the stage, and there are 15 cells
    (ALL_NONE, 0, 0, 32, 10, 7_783_040),
    (EXAMPLE, 0, 1, 32, 10, 7_783_040 + 15 * 262_144),
    (RESNET, 2, 0, 32, 10, 7_783_040 + 15 * 2 * 2_359_296),
    (ALL_CONV3, 6, 0, 32, 10, 7_783_040 + 15 * 6 * 2_359_296),
    # 16x16 (ImageNet16-120), 120 classes: convs cost a quarter, fixed part 110,592 + 2 * 917,504 + 7,680
    (RESNET, 2, 0, 16, 120, 1_953_280 + 15 * 2 * 589_824),
])
def test_macs_match_the_hand_count(arch, n3, n1, size, classes, expected):
    assert _macs_by_hand(n3, n1, size, classes) == expected
    assert count_macs(TinyNetwork(arch, num_classes=classes), (3, size, size)) == expected


# --------------------------------------------------------------------------------------- official structure
def test_ops_match_the_official_definitions():
    assert PRIMITIVES == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    conv3 = OPS["nor_conv_3x3"](8, 1, True)
    assert isinstance(conv3, ReLUConvBN) and isinstance(conv3, nn.Sequential)
    relu, conv, bn = conv3
    assert isinstance(relu, nn.ReLU) and not relu.inplace
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.bias is None
    assert bn.affine and bn.track_running_stats
    conv1 = OPS["nor_conv_1x1"](8, 1, False)
    assert conv1[1].kernel_size == (1, 1) and conv1[1].padding == (0, 0) and not conv1[2].affine
    pool = OPS["avg_pool_3x3"](8, 1, True)
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 3 and pool.stride == 1 and pool.padding == 1
    assert pool.count_include_pad is False
    assert isinstance(OPS["none"](8, 1, True), Zero)
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(OPS["skip_connect"](8, 1, True)(x), x)
    assert torch.equal(OPS["none"](8, 1, True)(x), torch.zeros_like(x))


def test_resnet_block_is_the_official_one():
    block = ResNetBasicblock(16, 32, 2)
    assert [n for n, _ in block.named_children()] == ["conv_a", "conv_b", "downsample"]
    assert block.conv_a[1].stride == (2, 2) and block.conv_b[1].stride == (1, 1)
    pool, conv = block.downsample
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2 and pool.stride == 2
    assert conv.kernel_size == (1, 1) and conv.bias is None and len(block.downsample) == 2  # no BN, no ReLU
    assert all(m.affine for m in block.modules() if isinstance(m, nn.BatchNorm2d))
    assert ResNetBasicblock(16, 16, 1).downsample is None
    assert isinstance(ResNetBasicblock(16, 32, 1).downsample, ReLUConvBN)
    # forward = shortcut + conv_b(conv_a(x)); the ceil-mode pool equals the plain 2x2 pool on even sizes
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    block = block.double()
    plain = nn.AvgPool2d(2, 2)(x)
    assert torch.equal(block.downsample[0](x), plain)
    expected = block.downsample[1](plain) + block.conv_b(block.conv_a(x))
    assert torch.allclose(block(x), expected, rtol=0, atol=1e-12)
    # odd sizes work: the shortcut's pool also gives ceil(3 / 2) = 2, averaging the last row / column on its own
    # (a floor-mode pool would give 1x1 and be silently broadcast onto the 2x2 conv branch)
    odd = torch.randn(2, 16, 3, 3, dtype=torch.float64)
    pooled = block.downsample[0](odd)
    assert pooled.shape == (2, 16, 2, 2)
    assert torch.allclose(pooled[..., 0, 0], odd[..., :2, :2].mean(dim=(-2, -1)))
    assert torch.allclose(pooled[..., 0, 1], odd[..., :2, 2].mean(dim=-1))
    assert torch.equal(pooled[..., 1, 1], odd[..., 2, 2])
    assert block(odd).shape == (2, 32, 2, 2)


def test_network_layout():
    net = TinyNetwork(RESNET, C=8, N=2, num_classes=7)
    kinds = [type(m).__name__ for m in net.cells]
    assert kinds == ["InferCell"] * 2 + ["ResNetBasicblock"] + ["InferCell"] * 2 + ["ResNetBasicblock"] + ["InferCell"] * 2
    assert [c.C for c in net.cells if isinstance(c, InferCell)] == [8, 8, 16, 16, 32, 32]
    assert isinstance(net.lastact[0], nn.BatchNorm2d) and isinstance(net.lastact[1], nn.ReLU)
    assert isinstance(net.head, ClassifierHead) and net.head.classifier.out_features == 7
    assert net.stem[0].bias is None and net.stem[0].in_channels == 3
    assert all(m.affine for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    logits, aux = net(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 7) and aux is None


def test_cell_computes_the_node_sums():
    torch.manual_seed(1)
    cell = InferCell(parse_cell("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"),
                     4).double().eval()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    n1 = cell.layers[0](x)
    n2 = x + cell.layers[2](n1)
    n3 = cell.layers[4](n1) + n2
    assert torch.allclose(cell(x), n3, rtol=0, atol=1e-12)


def test_default_head_equals_gap_linear_after_bn_relu():
    torch.manual_seed(0)
    net = TinyNetwork(RESNET, C=4, N=1, speedups=Speedups.off()).double().eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    feature = net.stem(x)
    for cell in net.cells:
        feature = cell(feature)
    pooled = torch.relu(net.lastact[0](feature)).mean(dim=(-2, -1))
    assert torch.allclose(net(x)[0], net.head.classifier(pooled), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------- heads
TASKS = {"supervised": lambda: pretext_tasks.Supervised(num_classes=10), "rotation": pretext_tasks.Rotation,
         "colorization": pretext_tasks.Colorization, "jigsaw": pretext_tasks.Jigsaw}


@pytest.mark.parametrize("size", [32, 16])
@pytest.mark.parametrize("task_name", list(TASKS))
def test_every_objective_trains_the_network_and_the_supernet(task_name, size):
    torch.manual_seed(0)
    task = TASKS[task_name]()
    images = torch.rand(2, 3, size, size)
    labels = torch.randint(0, 10, (2,))
    inputs, targets = task.prepare(images, labels, train=True)
    assert tuple(inputs.shape[1:]) == tuple(task.input_shape(size))
    space = NB201Space(channels=4, layers=1)
    net = space.network(RESNET, head=task.head, input_channels=task.input_channels)
    supernet = space.supernet(head=task.head, input_channels=task.input_channels)
    assert isinstance(supernet, NB201Supernet)
    for model, logits in ((net, net(inputs)[0]), (supernet, supernet(inputs))):
        assert logits.shape[0] == targets.shape[0] and logits.shape[1] == task.num_classes
        if task_name == "colorization":
            assert logits.shape[-2:] == (size, size)
        loss = task.loss(logits, targets)
        assert torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert supernet.alphas.grad is not None and supernet.alphas.grad.abs().sum() > 0


def test_channels_last_changes_nothing():
    torch.manual_seed(0)
    plain = TinyNetwork(ALL_CONV3, C=4, N=1, speedups=Speedups.off()).double()
    fast = TinyNetwork(ALL_CONV3, C=4, N=1, speedups=Speedups.on()).double()
    fast.load_state_dict(plain.state_dict())
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    outs = []
    for net in (plain, fast):
        logits, _ = net(x)
        logits.square().sum().backward()
        outs.append((logits, [p.grad for p in net.parameters()], [b for b in net.buffers()]))
    (la, ga, ba), (lb, gb, bb) = outs
    assert torch.allclose(la, lb, rtol=1e-10, atol=1e-10)
    for a, b in zip(ga + ba, gb + bb):
        assert torch.allclose(a.double(), b.double(), rtol=1e-10, atol=1e-10)
