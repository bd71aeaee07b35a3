"""Checkpoints: a SHA-256 file beside each one, checked before it is loaded; a missing or damaged ``--ckpt_path``
is one line naming the file and what is wrong."""

import argparse
import hashlib
import random
import shutil

import pytest
import torch

from conftest import TASKS, generated, write_config
from unnas.cli import main

# The configs' checkpoint callback (configs/*/*.yaml).
CONFIG_CHECKPOINTS = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                       "init_args": {"save_last": True, "filename": "epoch{epoch:03d}",
                                     "auto_insert_metric_name": False}}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-epoch tiny training: ``(config, checkpoint folder)``."""
    tmp = tmp_path_factory.mktemp("ckpt")
    model = {"class_path": "unnas.modules.ArchTraining",
             "init_args": {"objective": TASKS["rotation"], "arch": "darts_v2", "precise_bn_samples": 0,
                           "space": {"class_path": "unnas.spaces.DartsSpace",
                                     "init_args": {"channels": 4, "layers": 3}}}}
    cfg = write_config(tmp, model, {"source": generated(train_size=16, test_size=8), "batch_size": 8}, max_epochs=2,
                       name="ckpt", limit_train_batches=1, limit_val_batches=1, callbacks=CONFIG_CHECKPOINTS)
    torch.manual_seed(0)
    assert main(["fit", "-c", cfg]) == 0
    return cfg, tmp / "runs" / "ckpt" / "version_0" / "checkpoints"


def _err_lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


def _one_line_error(capsys, *fragments):
    err = _err_lines(capsys)
    assert err and len(err) <= 3 and err[0].startswith("unnas: error:"), err
    for f in fragments:
        assert f in err[0], err[0]
    return err[0]


def test_the_last_and_the_latest_epoch_are_kept_each_with_its_sha256(trained):
    _, folder = trained
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["epoch001.ckpt", "last.ckpt"]
    assert sorted(p.name for p in folder.glob("*.sha256")) == ["epoch001.ckpt.sha256", "last.ckpt.sha256"]
    for ckpt in folder.glob("*.ckpt"):
        digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
        assert (folder / f"{ckpt.name}.sha256").read_text() == f"{digest}  {ckpt.name}\n"  # sha256sum -c reads it


def test_resuming_from_a_checkpoint_with_flipped_bytes_stops_with_one_line(trained, tmp_path, capsys):
    cfg, folder = trained
    ckpt = tmp_path / "last.ckpt"
    shutil.copy(folder / "last.ckpt", ckpt)
    shutil.copy(folder / "last.ckpt.sha256", tmp_path / "last.ckpt.sha256")
    data = bytearray(ckpt.read_bytes())
    for i in random.Random(0).sample(range(len(data)), 50):
        data[i] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["fit", "-c", cfg, "--trainer.max_epochs=3", "--ckpt_path", str(ckpt)]) == 2
    _one_line_error(capsys, str(ckpt), "is damaged", "does not match last.ckpt.sha256", "delete it")


def test_a_checkpoint_without_its_sha256_loads_with_one_warning(trained, tmp_path, capsys):
    cfg, folder = trained
    ckpt = tmp_path / "last.ckpt"
    shutil.copy(folder / "last.ckpt", ckpt)
    capsys.readouterr()
    assert main(["validate", "-c", cfg, "--ckpt_path", str(ckpt)]) == 0
    warnings = [line for line in _err_lines(capsys) if "last.ckpt.sha256" in line]
    assert len(warnings) == 1 and warnings[0].startswith("unnas: warning:") and str(ckpt) in warnings[0]


def _damage(kind, folder, tmp_path):
    path = tmp_path / "bad.ckpt"
    if kind == "missing":
        return tmp_path / "none.ckpt"
    if kind == "folder":
        return folder
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = (folder / "last.ckpt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random":
        path.write_bytes(random.Random(0).randbytes(4096))
    elif kind == "unsafe":
        torch.save({"state_dict": {}, "extra": argparse.Namespace(a=1)}, path)
    return path


@pytest.mark.parametrize("kind, fragment", [
    ("missing", "does not exist"), ("folder", "is a folder"), ("empty", "is empty"),
    ("truncated", "cannot be read"), ("random", "cannot be read"), ("unsafe", "safe loader"),
])
def test_a_missing_or_damaged_ckpt_path_is_one_line(trained, tmp_path, capsys, kind, fragment):
    cfg, folder = trained
    path = _damage(kind, folder, tmp_path)
    capsys.readouterr()
    assert main(["validate", "-c", cfg, "--ckpt_path", str(path)]) == 2
    _one_line_error(capsys, str(path), fragment)
