"""Image sources and the datamodule: splits, subsets, and the errors a user meets."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest_data import make_image_tree  # noqa: E402
from pretext_tasks import Rotation, Supervised
from unnas.data import CIFAR10, DataError, Generated, ImageDataModule, ImageFolder, UnlabeledFolder


def test_imagefolder_layout_of_cifar10_is_read_with_standard_label_order(tmp_path):
    make_image_tree(tmp_path / "train", ["airplane", "automobile"] + [f"c{i}" for i in range(8)], per_class=2)
    make_image_tree(tmp_path / "test", ["airplane", "automobile"] + [f"c{i}" for i in range(8)], per_class=1)
    ds = CIFAR10(str(tmp_path)).dataset("train", Rotation().sample_transform(train=True))
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and 0.0 <= x.min() and x.max() <= 1.0
    assert y == 0 and ds[2][1] == 1 and len(ds) == 20


def test_missing_dataset_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataError) as e:
        CIFAR10(str(tmp_path / "nowhere")).dataset("train", lambda im: im)
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "download" in msg and "\n" not in msg
    with pytest.raises(DataError, match="does not exist"):
        ImageFolder(str(tmp_path / "nowhere")).dataset("train", lambda im: im)
    with pytest.raises(DataError, match="does not exist"):
        UnlabeledFolder(str(tmp_path / "nowhere")).dataset("train", lambda im: im)


def test_corrupt_image_is_reported_by_path(tmp_path):
    make_image_tree(tmp_path / "train", ["a", "b"], per_class=1)
    bad = tmp_path / "train" / "b" / "broken.png"
    bad.write_bytes(b"not an image")
    ds = ImageFolder(str(tmp_path), test_dir="train").dataset("train", lambda im: im)
    idx = [p for p, _ in ds.samples].index(str(bad))
    with pytest.raises(DataError, match="broken.png"):
        ds[idx]


def test_unlabeled_folder_splits_reproducibly_and_rejects_supervised(tmp_path):
    make_image_tree(tmp_path, ["x", "y/z"], per_class=10)
    src = UnlabeledFolder(str(tmp_path), test_fraction=0.2, seed=3)
    train = src.dataset("train", lambda im: 0)
    test = src.dataset("test", lambda im: 0)
    assert len(train) == 16 and len(test) == 4
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}
    assert [p for p, _ in test.samples] == [p for p, _ in src.dataset("test", lambda im: 0).samples]
    assert all(label == -1 for _, label in train.samples)
    dm = ImageDataModule(src, batch_size=4)
    dm.attach_task(Supervised())
    with pytest.raises(DataError, match="needs labels"):
        dm.setup("fit")
    dm = ImageDataModule(src, batch_size=4)
    dm.attach_task(Rotation())
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and (y == -1).all()


def test_class_count_mismatch_is_explained():
    dm = ImageDataModule(Generated(num_classes=4), batch_size=4)
    dm.attach_task(Supervised(num_classes=10))
    with pytest.raises(DataError, match="set the objective's num_classes to 4"):
        dm.setup("fit")


def test_search_split_is_disjoint_seeded_and_in_the_state_dict():
    dm = ImageDataModule(Generated(train_size=20, test_size=4), batch_size=4, train_portion=0.5, split_seed=1)
    dm.attach_task(Rotation())
    dm.setup("fit")
    w, a = dm.split_indices["weights"], dm.split_indices["arch"]
    assert len(w) == len(a) == 10 and not set(w) & set(a)
    loaders = dm.train_dataloader()
    assert set(loaders) == {"weights", "arch"}
    other = ImageDataModule(Generated(train_size=20, test_size=4), batch_size=4, train_portion=0.5)
    other.load_state_dict(dm.state_dict())
    assert other.split_indices == dm.split_indices


def test_subsets_and_shuffling_depend_only_on_seed_and_epoch():
    dm = ImageDataModule(Generated(train_size=40, test_size=8), batch_size=4, train_size=12)
    dm.attach_task(Rotation())
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader.dataset) == 12
    loader.sampler.set_epoch(3)
    first = list(loader.sampler)
    loader.sampler.set_epoch(4)
    assert list(loader.sampler) != first
    loader.sampler.set_epoch(3)
    assert list(loader.sampler) == first


def test_real_cifar10_subset_when_present():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "cifar10")
    if not os.path.isdir(root):
        pytest.skip("shared CIFAR-10 subset not present")
    ds = CIFAR10(root).dataset("test", Rotation().sample_transform(train=False))
    assert len(ds) == 2000
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y == 0


def test_epoch_shuffling_survives_lightnings_ddp_sampler_wrapper():
    # Under DDP Lightning wraps a custom sampler in DistributedSamplerWrapper (shuffle=False for a non-random
    # sampler) and calls set_epoch on the wrapper every epoch; the wrapper forwards it to our sampler.
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

    from unnas.data.datamodule import EpochShuffleSampler

    def epoch_order(epoch):
        ranks = []
        for rank in range(2):
            wrapper = DistributedSamplerWrapper(EpochShuffleSampler(10, seed=3), num_replicas=2, rank=rank, shuffle=False)
            wrapper.set_epoch(epoch)
            ranks.append(list(wrapper))
        return ranks

    first, second = epoch_order(0), epoch_order(1)
    assert sorted(first[0] + first[1]) == list(range(10))  # the ranks split one permutation
    assert not set(first[0]) & set(first[1])
    assert first != second  # a new order each epoch
    assert epoch_order(1) == second  # and the same order for a resumed run
