"""The evaluation networks against the counts of the official DARTS/UnNAS code (numbers obtained by running the
official model code of quark0/darts and facebookresearch/unnas)."""

import pytest
import torch

from unnas.spaces.darts import NetworkCIFAR, NetworkImageNet, count_macs, count_params, get_genotype, registered_names
from unnas.spaces.darts.networks import drop_path

ALL_NAMES = registered_names()


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_registered_genotype_builds_and_trains_at_tiny_width(name):
    net = NetworkCIFAR(name, C=4, num_classes=3, layers=3)
    x = torch.randn(2, 3, 8, 8)
    logits, aux = net(x)
    assert logits.shape == (2, 3) and aux is None
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert net.stem[0].weight.grad.abs().sum() > 0
    assert net.head.classifier.weight.grad.abs().sum() > 0
    if not name.startswith("unnas500/"):
        # Published cells read both inputs, so every weight gets a gradient. Some sampled cells ignore an
        # input, which leaves whole cells of a 3-cell network dead; DARTS builds them all the same.
        assert all(p.grad is not None for p in net.parameters())


def test_darts_v2_cifar_has_dartss_parameter_count():
    # quark0/darts NetworkCIFAR(36, 10, 20, auxiliary=True, DARTS_V2): utils.count_parameters_in_MB prints
    # 3.349342MB (aux excluded); 3,825,768 with the auxiliary head (reference/darts.md §2.1).
    net = NetworkCIFAR("darts_v2", C=36, num_classes=10, layers=20, auxiliary=True)
    assert count_params(net) == 3_349_342
    assert count_params(net, exclude_auxiliary=False) == 3_825_768
    assert count_macs(net, (3, 32, 32)) == 528_359_040


@pytest.mark.parametrize(
    "name, params, total",
    [("darts_v1", 3_169_414, 3_645_840), ("nas", 3_830_950, 4_288_944), ("amoeba", 3_145_078, 3_603_072)],
)
def test_published_cifar_networks_match_the_official_counts(name, params, total):
    net = NetworkCIFAR(name, C=36, num_classes=10, layers=20, auxiliary=True)
    assert count_params(net) == params
    assert count_params(net, exclude_auxiliary=False) == total


def test_darts_v2_imagenet_matches_the_official_counts():
    # quark0/darts NetworkImageNet(48, 1000, 14, auxiliary=True, DARTS_V2): 4.718752MB; MACs by Conv2d+Linear hooks.
    net = NetworkImageNet("darts_v2", C=48, num_classes=1000, layers=14, auxiliary=True)
    assert count_params(net) == 4_718_752
    assert count_params(net, exclude_auxiliary=False) == 5_979_528
    assert count_macs(net, (3, 224, 224)) == 529_911_552


def test_darts_v1_imagenet_counts():
    net = NetworkImageNet("darts_v1", C=48, num_classes=1000, layers=14, auxiliary=True)
    assert count_params(net) == 4_510_432
    assert count_params(net, exclude_auxiliary=False) == 5_771_208
    assert count_macs(net, (3, 224, 224)) == 505_864_704


@pytest.mark.parametrize(
    "name, width, params_m",
    [("darts_v2", 48, 4.72), ("unnas_imagenet_cls", 44, 5.25), ("unnas_imagenet_rot", 42, 5.14),
     ("unnas_imagenet_col", 46, 4.93), ("unnas_imagenet_jig", 42, 5.18), ("unnas_imagenet22k_cls", 46, 5.20),
     ("unnas_imagenet22k_rot", 42, 5.00), ("unnas_imagenet22k_col", 42, 4.99), ("unnas_imagenet22k_jig", 42, 5.14),
     ("unnas_cityscapes_seg", 44, 5.13), ("unnas_cityscapes_rot", 42, 5.07), ("unnas_cityscapes_col", 54, 5.10),
     ("unnas_cityscapes_jig", 44, 4.96)],
)
def test_unnas_imagenet_eval_networks_match_the_published_sizes(name, width, params_m):
    # UnNAS configs/search_based/eval_phase/cls/*.yaml: DEPTH 14, per-arch WIDTH (reference/unnas.md §4.4).
    net = NetworkImageNet(name, C=width, num_classes=1000, layers=14)
    assert round(count_params(net) / 1e6, 2) == params_m


def test_unnas_imagenet_col_macs():
    net = NetworkImageNet("unnas_imagenet_col", C=46, num_classes=1000, layers=14)
    assert round(count_macs(net, (3, 224, 224)) / 1e6, 1) == 539.6


def test_sample_study_arch_00004_matches_unnas():
    # UnNAS sample study, CIFAR-10 cls config 00004: WIDTH 16, DEPTH 20, no aux: 114.8 M MACs, 0.708 M params.
    net = NetworkCIFAR("unnas500/00004", C=16, num_classes=10, layers=20)
    assert round(count_macs(net, (3, 32, 32)) / 1e6, 1) == 114.8
    assert round(count_params(net) / 1e6, 3) == 0.708
    imagenet = NetworkImageNet("unnas500/00004", C=32, num_classes=1000, layers=22)
    assert round(count_params(imagenet) / 1e6, 2) == 3.44


RANDOM_GENOTYPES = [  # reference/darts.md §2.3: per-cell params of the official NetworkCIFAR(16, 10, 8)
    (
        [["max_pool_3x3", 1], ["skip_connect", 0], ["sep_conv_3x3", 2], ["dil_conv_5x5", 1], ["skip_connect", 2], ["sep_conv_5x5", 1], ["skip_connect", 1], ["avg_pool_3x3", 4]],
        [["sep_conv_5x5", 0], ["dil_conv_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 0], ["skip_connect", 0], ["sep_conv_3x3", 2], ["skip_connect", 4], ["sep_conv_3x3", 0]],
        229178, [4528, 4784, 15968, 14688, 16736, 56512, 51904, 60096], 3050112, 2573686,
    ),
    (
        [["skip_connect", 0], ["max_pool_3x3", 1], ["sep_conv_3x3", 1], ["dil_conv_3x3", 2], ["max_pool_3x3", 3], ["sep_conv_3x3", 0], ["sep_conv_3x3", 0], ["sep_conv_5x5", 3]],
        [["skip_connect", 0], ["dil_conv_3x3", 1], ["skip_connect", 0], ["max_pool_3x3", 2], ["dil_conv_3x3", 0], ["sep_conv_5x5", 3], ["dil_conv_3x3", 0], ["avg_pool_3x3", 3]],
        271418, [6000, 6256, 14304, 19680, 21728, 51136, 70080, 78272], 3715392, 3238966,
    ),
    (
        [["max_pool_3x3", 0], ["skip_connect", 1], ["skip_connect", 0], ["sep_conv_5x5", 1], ["max_pool_3x3", 1], ["sep_conv_5x5", 2], ["dil_conv_3x3", 1], ["sep_conv_3x3", 3]],
        [["sep_conv_5x5", 1], ["skip_connect", 0], ["skip_connect", 0], ["sep_conv_3x3", 2], ["sep_conv_3x3", 2], ["sep_conv_5x5", 1], ["avg_pool_3x3", 1], ["avg_pool_3x3", 4]],
        273754, [5648, 5904, 19456, 17952, 20000, 67584, 62528, 70720], 3495720, 3019294,
    ),
    (
        [["skip_connect", 0], ["sep_conv_5x5", 1], ["sep_conv_5x5", 1], ["max_pool_3x3", 0], ["sep_conv_5x5", 3], ["avg_pool_3x3", 1], ["sep_conv_5x5", 1], ["dil_conv_5x5", 3]],
        [["dil_conv_3x3", 1], ["dil_conv_5x5", 0], ["dil_conv_3x3", 0], ["avg_pool_3x3", 2], ["max_pool_3x3", 3], ["dil_conv_3x3", 2], ["dil_conv_5x5", 0], ["sep_conv_5x5", 1]],
        301306, [7792, 8048, 15904, 23264, 25312, 54336, 77248, 85440], 3895536, 3419110,
    ),
    (
        [["max_pool_3x3", 0], ["dil_conv_3x3", 1], ["avg_pool_3x3", 1], ["max_pool_3x3", 2], ["sep_conv_3x3", 0], ["sep_conv_5x5", 3], ["avg_pool_3x3", 2], ["sep_conv_5x5", 0]],
        [["dil_conv_5x5", 1], ["avg_pool_3x3", 0], ["avg_pool_3x3", 0], ["max_pool_3x3", 1], ["avg_pool_3x3", 2], ["avg_pool_3x3", 1], ["dil_conv_3x3", 2], ["dil_conv_5x5", 4]],
        229178, [5648, 5904, 9376, 17952, 20000, 33088, 62528, 70720], 3294624, 2818198,
    ),
]


@pytest.mark.parametrize("normal, reduce, total, cells, c36_total, c36_params", RANDOM_GENOTYPES)
def test_random_genotypes_match_official_per_cell_counts(normal, reduce, total, cells, c36_total, c36_params):
    genotype = {"normal": normal, "normal_concat": [2, 3, 4, 5], "reduce": reduce, "reduce_concat": [2, 3, 4, 5]}
    net = NetworkCIFAR(genotype, C=16, num_classes=10, layers=8)
    assert count_params(net) == total
    assert [count_params(c) for c in net.cells] == cells
    assert count_params(net.stem) == 1392 and count_params(net.head) == 2570
    big = NetworkCIFAR(genotype, C=36, num_classes=10, layers=20, auxiliary=True)
    assert count_params(big) == c36_params
    assert count_params(big, exclude_auxiliary=False) == c36_total


def test_reduction_positions_and_feature_sizes():
    net = NetworkCIFAR("darts_v2", C=8, layers=20)
    assert [i for i, c in enumerate(net.cells) if c.reduction] == [6, 13]
    imagenet = NetworkImageNet("darts_v2", C=8, layers=14)
    assert [i for i, c in enumerate(imagenet.cells) if c.reduction] == [4, 9]
    shapes = []
    hooks = [c.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for c in imagenet.cells]
    imagenet.eval()(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert shapes[0] == (1, 32, 28, 28) and shapes[4] == (1, 64, 14, 14) and shapes[13] == (1, 128, 7, 7)


def test_auxiliary_head_runs_only_in_training():
    net = NetworkCIFAR("darts_v2", C=8, num_classes=7, layers=8, auxiliary=True)
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    net.eval()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert aux is None


def test_input_channels_and_unused_cell_inputs():
    net = NetworkCIFAR("unnas500/00004", C=4, layers=3, input_channels=1)
    assert net.stem[0].in_channels == 1
    # 00004's normal cell never reads state 0 except through `none`; its preprocessing is still built and counted.
    assert count_params(net.cells[0].preprocess0) > 0
    logits, _ = net(torch.randn(2, 1, 16, 16))
    assert logits.shape == (2, 10)


def test_drop_path_zeroes_whole_samples_and_keeps_the_mean():
    torch.manual_seed(1)
    x = torch.ones(4000, 2, 3, 3)
    y = drop_path(x, 0.3)
    per_sample = y.flatten(1)
    assert torch.all((per_sample == 0).all(1) | torch.isclose(per_sample, torch.full_like(per_sample, 1 / 0.7)).all(1))
    assert abs(y.mean().item() - 1.0) < 0.05
    assert drop_path(x, 0.0) is x


def test_drop_path_changes_training_outputs_only():
    net = NetworkCIFAR("darts_v2", C=4, layers=3, drop_path_prob=0.5)
    x = torch.randn(8, 3, 8, 8)
    net.eval()
    a, _ = net(x)
    b, _ = net(x)
    assert torch.equal(a, b)
    net.train()
    torch.manual_seed(0)
    c, _ = net(x)
    torch.manual_seed(1)
    d, _ = net(x)
    assert not torch.allclose(c, d)


def test_odd_resolution_inputs_work():
    net = NetworkCIFAR("darts_v2", C=4, layers=3)
    logits, _ = net(torch.randn(2, 3, 14, 14))  # 14 -> 7 -> FactorizedReduce on an odd map
    assert logits.shape == (2, 10)
