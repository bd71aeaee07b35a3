"""bf16 mixed precision and torch.compile as recipe options: both train a tiny network on the CPU."""

import json

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from pretext_tasks import Supervised
from unnas.data import Generated, ImageDataModule
from unnas.errors import ConfigError
from unnas.modules import ArchTraining
from unnas.spaces import DartsSpace


def tiny(**kw):
    return ArchTraining(Supervised(num_classes=4), arch="darts_v2", space=DartsSpace(channels=4, layers=3),
                        precise_bn_samples=8, **kw)


def fit(tmp_path, model, **trainer):
    dm = ImageDataModule(Generated(train_size=16, test_size=8), batch_size=8)
    Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=str(tmp_path), **trainer).fit(model, dm)
    return json.loads((tmp_path / "result.json").read_text())


def test_bf16_mixed_trains_on_the_cpu(tmp_path):
    seed_everything(0)
    model = tiny()
    result = fit(tmp_path, model, precision="bf16-mixed")
    assert 0.0 <= result["best_acc"] <= 1.0 and result["final_train_loss"] == result["final_train_loss"]
    assert all(p.dtype == torch.float32 for p in model.net.parameters())  # the weights stay fp32
    assert result["speedups"]["device"] == "cpu"


def test_compile_trains_the_compiled_forward_and_keeps_one_set_of_weights(tmp_path):
    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported on this Python/platform")
    seed_everything(0)
    model = tiny(compile=True, compile_backend="aot_eager")
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    result = fit(tmp_path, model)
    assert model.__dict__["_compiled_net"] is not None
    assert not any("_compiled" in k or "_orig_mod" in k for k in model.state_dict())
    assert any(not torch.equal(before[k], v) for k, v in model.net.state_dict().items())  # the weights trained
    assert 0.0 <= result["best_acc"] <= 1.0


def test_compile_with_drop_path_is_one_line():
    with pytest.raises(ConfigError, match="compile: true needs drop_path_prob: 0"):
        tiny(compile=True, drop_path_prob=0.2)
