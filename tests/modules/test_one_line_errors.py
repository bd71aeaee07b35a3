"""``unnas fit`` ends in one line, never a traceback, for: an arch of another space than the config's, a search's
checkpoint given to a training config, a bit-flipped checkpoint without its .sha256, and running out of memory;
``unnas arch info`` refuses a network far beyond memory before allocating it."""

import json
import os
import shutil

import pytest

from conftest import TASKS, generated, write_config
from unnas.cli import main
from unnas.modules.checkpoints import CheckpointError, check_checkpoint_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NB201 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
TINY = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
        "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
        "--data.source=unnas.data.Generated", "--data.source.init_args.size=8", "--data.train_size=8",
        "--data.test_size=4", "--data.batch_size=4", "--threads=1", "--model.init_args.precise_bn_samples=0",
        "--model.init_args.objective.init_args.num_classes=4"]


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("unnas: error: "), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


@pytest.mark.parametrize("config, arch, use", [
    ("cifar10_supervised_cpu", "nb201", "configs/train/nb201_cifar10_cpu.yaml"),
    ("nb201_cifar10_cpu", "darts", "configs/train/cifar10_supervised_cpu.yaml"),
    ("cifar10_supervised_cpu", "nb101", "configs/train/nb101_cifar10_cpu.yaml"),
])
def test_an_arch_of_another_space_names_the_config_to_use(config, arch, use, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    found = {"nb201": {"space": "nb201", "arch": NB201}, "nb101": "unnas_nb101/000907",
             "darts": "darts_v2"}[arch]
    if isinstance(found, dict):  # a search's genotype.json
        (tmp_path / "genotype.json").write_text(json.dumps(found))
        found = str(tmp_path / "genotype.json")
    assert main(["fit", "-c", os.path.join(ROOT, "configs", "train", f"{config}.yaml"),
                 f"--model.init_args.arch={found}", *TINY]) == 2
    line = _err(capsys)
    assert "but the config's space is" in line and f"use -c {use}" in line


def test_a_found_nb201_cell_trains_with_the_nb201_cpu_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    (tmp_path / "genotype.json").write_text(json.dumps({"space": "nb201", "arch": NB201}))
    assert main(["fit", "-c", os.path.join(ROOT, "configs", "train", "nb201_cifar10_cpu.yaml"),
                 f"--model.init_args.arch={tmp_path / 'genotype.json'}", *TINY]) == 0


def _search_checkpoint(tmp_path):
    search = {"class_path": "unnas.modules.WeightSharingSearch",
              "init_args": {"objective": TASKS["supervised"],
                            "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}}}
    cfg = write_config(tmp_path, search, {"source": generated(train_size=8, test_size=4), "batch_size": 4,
                                          "train_portion": 0.5}, name="search", limit_train_batches=1,
                       limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 0
    return str(tmp_path / "runs" / "search" / "version_0" / "checkpoints" / "last.ckpt")


def test_a_search_checkpoint_given_to_a_training_config_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ckpt = _search_checkpoint(tmp_path)
    train = {"class_path": "unnas.modules.ArchTraining",
             "init_args": {"objective": TASKS["supervised"], "arch": NB201, "precise_bn_samples": 0,
                           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}}}
    cfg = write_config(tmp_path, train, {"source": generated(train_size=8, test_size=4), "batch_size": 4},
                       name="train", max_epochs=2, limit_train_batches=1, limit_val_batches=1)
    capsys.readouterr()
    assert main(["fit", "-c", cfg, f"--ckpt_path={ckpt}"]) == 2
    line = _err(capsys)
    assert "checkpoint of a WeightSharingSearch run" in line and "genotype.json" in line


def test_a_bit_flipped_checkpoint_without_its_checksum_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ckpt = _search_checkpoint(tmp_path)
    bad = str(tmp_path / "copy.ckpt")  # no .sha256 beside it
    shutil.copy(ckpt, bad)
    import zipfile

    with zipfile.ZipFile(bad) as z:  # flip one bit inside the largest record's stored bytes
        info = max(z.infolist(), key=lambda i: i.compress_size)
    with open(bad, "r+b") as f:
        f.seek(info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(CheckpointError, match="CRC of its record .* does not match"):
        check_checkpoint_file(bad)
    capsys.readouterr()
    assert main(["fit", "-c", str(tmp_path / "search.yaml"), f"--ckpt_path={bad}", "--trainer.max_epochs=2"]) == 2
    assert "is damaged: the CRC" in _err(capsys)


def test_running_out_of_memory_during_fit_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    import torch

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("unnas.modules.ArchTraining.training_step", oom)
    train = {"class_path": "unnas.modules.ArchTraining",
             "init_args": {"objective": TASKS["supervised"], "arch": NB201, "precise_bn_samples": 0,
                           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}}}
    cfg = write_config(tmp_path, train, {"source": generated(train_size=8, test_size=4), "batch_size": 4},
                       limit_train_batches=1, limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 2
    line = _err(capsys)
    assert "ran out of memory" in line and "data.batch_size" in line


def test_a_network_far_beyond_memory_is_refused_before_allocation(capsys):
    assert main(["arch", "info", "darts_v2", "--channels", "100000"]) == 2
    line = _err(capsys)
    assert "more than this machine's" in line and "--channels" in line
