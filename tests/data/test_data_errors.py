"""Wrong data input fails with one line naming the problem and the fix, never a traceback or a wrong result."""

import os
import struct
import sys
import zlib

import numpy as np
import pytest
import yaml
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from conftest_data import make_image_tree  # noqa: E402
from pretext_tasks import Rotation  # noqa: E402
from unnas.data import CIFAR10, DataError, Generated, ImageDataModule, ImageFolder, UnlabeledFolder  # noqa: E402
from unnas.errors import ConfigError  # noqa: E402


def _one_line(exc_info, *fragments):
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert str(f) in msg, (f, msg)
    return msg


def _labels(ds):
    return {os.path.basename(os.path.dirname(p)): y for p, y in ds.samples}


def _save(path, w, h, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _batches(source, task=None, **kw):
    dm = ImageDataModule(source, **kw)
    dm.attach_task(task or Rotation())
    dm.setup("fit")
    return list(dm.train_dataloader())


# --- one class list for all splits --------------------------------------------------------------------------

def test_imagefolder_labels_come_from_the_training_classes_in_every_split(tmp_path):
    make_image_tree(tmp_path / "train", ["a", "b", "c"], per_class=1)
    make_image_tree(tmp_path / "val", ["a", "c"], per_class=1)
    src = ImageFolder(str(tmp_path))
    assert _labels(src.dataset("test", lambda im: im)) == {"a": 0, "c": 2}
    assert _labels(src.dataset("train", lambda im: im)) == {"a": 0, "b": 1, "c": 2}
    assert src.num_classes == 3


def test_cifar_folder_layout_labels_test_images_by_the_training_classes(tmp_path):
    names = [f"k{i}" for i in range(10)]
    make_image_tree(tmp_path / "train", names, per_class=1)
    make_image_tree(tmp_path / "test", names[5:], per_class=1)
    assert _labels(CIFAR10(str(tmp_path)).dataset("test", lambda im: im)) == {n: i + 5 for i, n in enumerate(names[5:])}


def test_test_class_unknown_to_training_names_the_class_and_both_folders(tmp_path):
    make_image_tree(tmp_path / "train", ["a", "b"], per_class=1)
    make_image_tree(tmp_path / "val", ["a", "zebra"], per_class=1)
    with pytest.raises(DataError) as e:
        ImageFolder(str(tmp_path)).dataset("test", lambda im: im)
    _one_line(e, "zebra", tmp_path / "train", tmp_path / "val")


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    make_image_tree(tmp_path / "train", ["a", "b"], per_class=1)
    make_image_tree(tmp_path / "val", ["a", "b"], per_class=1)
    (tmp_path / "train" / "c").mkdir()
    (tmp_path / "train" / "c" / "notes.txt").write_text("no images here")
    src = ImageFolder(str(tmp_path))
    with pytest.raises(DataError) as e:
        src.num_classes
    _one_line(e, tmp_path / "train" / "c", "no images")
    with pytest.raises(DataError) as e:
        src.dataset("train", lambda im: im)
    _one_line(e, tmp_path / "train" / "c")
    (tmp_path / "val" / "b" / "0000.png").unlink()
    (tmp_path / "train" / "c" / "notes.txt").unlink()
    (tmp_path / "train" / "c").rmdir()
    with pytest.raises(DataError) as e:
        ImageFolder(str(tmp_path)).dataset("test", lambda im: im)
    _one_line(e, tmp_path / "val" / "b")


def test_empty_class_folder_in_a_cifar_folder_layout_is_an_error(tmp_path):
    make_image_tree(tmp_path / "train", [f"k{i}" for i in range(9)], per_class=1)
    (tmp_path / "train" / "k9").mkdir()
    make_image_tree(tmp_path / "test", [f"k{i}" for i in range(10)], per_class=1)
    with pytest.raises(DataError) as e:
        CIFAR10(str(tmp_path)).dataset("train", lambda im: im)
    _one_line(e, tmp_path / "train" / "k9")


# --- sizes ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("batch_size", 0), ("batch_size", -1), ("test_batch_size", 0), ("test_batch_size", -2),
    ("train_size", 0), ("train_size", -5), ("test_size", 0), ("num_workers", -1),
    ("train_portion", 2.0), ("train_portion", 0.0), ("train_portion", 1.0), ("train_portion", -0.5),
])
def test_impossible_datamodule_sizes_name_the_option_and_the_range(option, value):
    with pytest.raises(ConfigError) as e:
        ImageDataModule(Generated(train_size=8, test_size=4), **{option: value})
    _one_line(e, f"data.{option}", value)


@pytest.mark.parametrize("fraction", [1.5, 0.0, 1.0, -0.1])
def test_test_fraction_outside_zero_one_names_the_option(tmp_path, fraction):
    with pytest.raises(ConfigError) as e:
        UnlabeledFolder(str(tmp_path), test_fraction=fraction)
    _one_line(e, "test_fraction", fraction)


@pytest.mark.parametrize("source", [ImageFolder, UnlabeledFolder, CIFAR10])
def test_image_size_below_one_names_the_option(tmp_path, source):
    with pytest.raises(ConfigError) as e:
        source(str(tmp_path), image_size=0)
    _one_line(e, "image_size", 0)


@pytest.mark.parametrize("kw", [{"train_size": 0}, {"test_size": -1}, {"size": 4}, {"num_classes": 7}])
def test_impossible_generated_sizes_name_the_option(kw):
    with pytest.raises(ConfigError) as e:
        Generated(**kw)
    _one_line(e, next(iter(kw)))


def test_train_and_test_size_above_the_dataset_are_refused(tmp_path):
    with pytest.raises(ConfigError) as e:
        _batches(Generated(train_size=20, test_size=4), batch_size=4, train_size=21)
    _one_line(e, "train_size 21 is larger than the 20 images", "Generated")
    with pytest.raises(ConfigError) as e:
        _batches(Generated(train_size=20, test_size=4), batch_size=4, test_size=5)
    _one_line(e, "test_size 5 is larger than the 4 images")
    make_image_tree(tmp_path, ["x"], per_class=10)
    with pytest.raises(ConfigError) as e:
        _batches(UnlabeledFolder(str(tmp_path), test_fraction=0.2), batch_size=2, train_size=9)
    _one_line(e, "train_size 9 is larger than the 8 images", tmp_path)
    assert len(_batches(Generated(train_size=20, test_size=4), batch_size=4, train_size=20)) == 5


def test_train_portion_that_empties_a_half_is_one_line():
    with pytest.raises(ConfigError) as e:
        _batches(Generated(train_size=4, test_size=4), batch_size=2, train_portion=0.1)
    _one_line(e, "data.train_portion", "0 for the weights", "4 for the architecture")


def test_unlabeled_folder_that_leaves_no_training_image_is_one_line(tmp_path):
    make_image_tree(tmp_path, ["x"], per_class=1)
    with pytest.raises(ConfigError) as e:
        UnlabeledFolder(str(tmp_path)).dataset("train", lambda im: im)
    _one_line(e, "test_fraction", tmp_path, "test_root")


# --- images of different sizes --------------------------------------------------------------------------------

def test_images_of_different_sizes_name_two_files_and_the_option(tmp_path):
    _save(tmp_path / "imgs" / "a.png", 32, 32)
    _save(tmp_path / "imgs" / "b.png", 48, 40)
    _save(tmp_path / "held" / "c.png", 32, 32)
    src = UnlabeledFolder(str(tmp_path / "imgs"), test_root=str(tmp_path / "held"))
    with pytest.raises(DataError) as e:
        _batches(src, batch_size=2)
    _one_line(e, "a.png", "b.png", "32x32", "40x48", "image_size")


def test_image_size_resizes_and_crops_varied_images_to_one_size(tmp_path):
    _save(tmp_path / "a.png", 32, 32)
    _save(tmp_path / "b.png", 48, 40)
    _save(tmp_path / "c.png", 20, 70)
    src = UnlabeledFolder(str(tmp_path), test_fraction=0.3, image_size=24)
    (x, y), = _batches(src, batch_size=2)
    assert x.shape == (2, 3, 24, 24) and (y == -1).all()


def test_imagenet_style_objective_crops_varied_images_to_one_size(tmp_path):
    for i, (w, h) in enumerate([(32, 32), (48, 40), (20, 70)]):
        _save(tmp_path / "train" / "k" / f"{i}.png", w, h)
        _save(tmp_path / "val" / "k" / f"{i}.png", h, w)
    task = Rotation(style="imagenet", crop_size=16, resize_size=18)
    dm = ImageDataModule(ImageFolder(str(tmp_path)), batch_size=3)
    dm.attach_task(task)
    dm.setup("fit")
    assert next(iter(dm.train_dataloader()))[0].shape == (3, 3, 16, 16)
    assert next(iter(dm.val_dataloader()))[0].shape == (3, 3, 16, 16)


# --- unreadable images, in the main process and in loader workers ---------------------------------------------

def _png_with_size(path, width, height):
    """A valid PNG header announcing width x height pixels (the pixel data is a stub): a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


def _write_bad_image(path, kind):
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("a text file named like an image\n")
    elif kind == "truncated":
        _save(path, 32, 32)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "bomb":
        _png_with_size(path, 20000, 20000)


@pytest.mark.parametrize("kind", ["random bytes", "text", "truncated", "bomb"])
def test_unreadable_image_is_one_data_error_naming_the_file(tmp_path, kind):
    make_image_tree(tmp_path / "imgs", ["x"], per_class=3)
    bad = tmp_path / "imgs" / "x" / "bad.png"
    _write_bad_image(bad, kind)
    src = UnlabeledFolder(str(tmp_path / "imgs"), test_root=str(tmp_path / "imgs"))
    with pytest.raises(DataError) as e:
        _batches(src, batch_size=4)
    _one_line(e, bad)


def test_folder_named_like_an_image_is_searched_not_read(tmp_path):
    make_image_tree(tmp_path / "imgs" / "album.png", ["x"], per_class=2)
    make_image_tree(tmp_path / "imgs", ["y"], per_class=1)
    ds = UnlabeledFolder(str(tmp_path / "imgs"), test_root=str(tmp_path / "imgs")).dataset("train", lambda im: im.size)
    assert len(ds) == 3 and all(os.path.isfile(p) for p, _ in ds.samples)
    assert [ds[i][0] for i in range(3)] == [(32, 32)] * 3


def test_image_above_pils_pixel_limit_is_refused_not_warned(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # 32x32 = 1024 pixels: above the limit, below twice it
    _save(tmp_path / "big.png", 32, 32)
    with pytest.raises(DataError) as e:
        UnlabeledFolder(str(tmp_path), test_root=str(tmp_path)).dataset("train", lambda im: im)[0]
    _one_line(e, tmp_path / "big.png", "decompression bomb")


@pytest.mark.parametrize("kind", ["text", "bomb"])
def test_unreadable_image_in_a_loader_worker_is_still_one_data_error(tmp_path, kind):
    make_image_tree(tmp_path / "imgs", ["x"], per_class=3)
    bad = tmp_path / "imgs" / "x" / "bad.png"
    _write_bad_image(bad, kind)
    src = UnlabeledFolder(str(tmp_path / "imgs"), test_root=str(tmp_path / "imgs"))
    with pytest.raises(DataError) as e:
        _batches(src, batch_size=1, num_workers=2)
    msg = _one_line(e, bad, "DataLoader worker")
    assert "Traceback" not in msg


def test_data_error_keeps_its_line_through_torchs_worker_wrapper():
    from torch._utils import ExceptionWrapper

    try:
        raise DataError("cannot read image /x/a.png: broken; remove or replace the file")
    except DataError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 1")
    with pytest.raises(DataError) as e:
        wrapped.reraise()
    line = "cannot read image /x/a.png: broken; remove or replace the file"
    assert str(e.value) == f"{line} (in DataLoader worker process 1)"
    assert str(DataError("plain")) == "plain"


# --- what the command line prints -----------------------------------------------------------------------------

def _fit(tmp_path, data, capsys):
    from unnas.cli import main

    cfg = {
        "seed_everything": 0,
        "trainer": {"fast_dev_run": True, "accelerator": "cpu", "devices": 1, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False, "enable_checkpointing": False},
        "model": {"class_path": "unnas.modules.ArchTraining",
                  "init_args": {"task": {"class_path": "pretext_tasks.Rotation"}, "genotype": "darts_v2",
                                "space": {"class_path": "unnas.spaces.DartsSpace",
                                          "init_args": {"channels": 4, "layers": 3}}}},
        "data": data,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(["fit", "-c", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err and err[-1].startswith("unnas: error: "), err
    assert not any("Traceback" in line for line in err), err
    return err[-1]


def test_command_line_prints_one_line_for_an_impossible_batch_size(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _fit(tmp_path, {"source": {"class_path": "unnas.data.Generated"}, "batch_size": 0}, capsys)
    assert "data.batch_size" in line


def test_command_line_prints_one_line_for_a_corrupt_image_read_by_workers(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_image_tree(tmp_path / "imgs", ["x"], per_class=4)
    (tmp_path / "imgs" / "x" / "bad.png").write_text("not an image")
    source = {"class_path": "unnas.data.UnlabeledFolder",
              "init_args": {"root": str(tmp_path / "imgs"), "test_root": str(tmp_path / "imgs")}}
    line = _fit(tmp_path, {"source": source, "batch_size": 1, "num_workers": 2}, capsys)
    assert "bad.png" in line


@pytest.mark.parametrize("error", [__import__("urllib.error").error.URLError("[Errno -3] Temporary failure in name "
                                                                             "resolution"),
                                   ConnectionRefusedError(111, "Connection refused")])
def test_a_download_without_network_is_one_line_saying_where_to_get_the_data(tmp_path, monkeypatch, error):
    import torchvision

    def offline(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(DataError) as e:
        CIFAR10(str(tmp_path / "c10"), download=True).dataset("train", None)
    _one_line(e, "could not download CIFAR10 into", "network", "point data.source.init_args.root at a local copy")
