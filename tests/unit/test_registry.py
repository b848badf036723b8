"""The backbone-source registry: dispatch by prefix or predicate, and run folders (torchvision
and text) serving as backbones of the next run."""

from __future__ import annotations

import shutil

import pytest
import torch

from transferlab.backbones import (
    Backbone,
    create_backbone,
    register_source,
    registered_sources,
    unregister_source,
)
from transferlab.backbones.weights import WeightsSpec
from transferlab.errors import ConfigError, WeightsError


def _toy(tag: str):
    """A factory that records what it was asked for in the spec's architecture."""
    def factory(name: str, pretrained: bool, **options) -> Backbone:
        spec = WeightsSpec(architecture=f"{tag}:{name}:{pretrained}:{options}", source=tag)
        return Backbone(torch.nn.Flatten(), spec, 12)
    return factory


@pytest.fixture
def toy_sources():
    yield
    for label in ("toy", "toy-pred", "toy-first"):
        unregister_source(label)


def test_builtin_sources_in_dispatch_order():
    assert registered_sources() == ["bundled", "text", "torchvision", "timm", "file",
                                    "timm-name"]


def test_prefix_source_gets_the_rest_of_the_name(toy_sources):
    register_source("toy:", _toy("a"), label="toy")
    assert create_backbone("toy:net-1").spec.architecture == "a:net-1:True:{}"
    assert create_backbone("toy:x", pretrained=False).spec.architecture == "a:x:False:{}"
    register_source(("toy:", "t:"), _toy("b"), label="toy")  # same label: replaced in place
    assert registered_sources().count("toy") == 1
    assert create_backbone("t:y").spec.architecture == "b:y:True:{}"


def test_predicate_source_and_first(toy_sources):
    register_source(lambda n: n.endswith(".toy"), _toy("p"), label="toy-pred")
    assert create_backbone("any.toy").spec.architecture == "p:any.toy:True:{}"
    # appended after the built-ins, a source cannot shadow a bundled name; first=True can
    register_source(lambda n: n == "efficientnet_lite0", _toy("f"), label="toy-first",
                    first=True)
    assert registered_sources()[0] == "toy-first"
    assert create_backbone("efficientnet_lite0").spec.architecture.startswith("f:")
    unregister_source("toy-first")
    assert "toy-first" not in registered_sources()


def test_unknown_name_and_misplaced_arch_are_refused():
    with pytest.raises(WeightsError, match="unknown backbone 'no_such_net'.*tv:NAME"):
        create_backbone("no_such_net")
    with pytest.raises(ConfigError, match="--arch"):
        create_backbone("tv:resnet18", arch="resnet18")
    with pytest.raises(TypeError):
        register_source(42, _toy("x"))


def test_tv_name_builds_a_torchvision_backbone_offline():
    bb = create_backbone("tv:resnet18", pretrained=False).eval()
    assert bb.spec.source == "torchvision:resnet18" and bb.spec.modality == "image"
    assert not bb.spec.pretrained and bb.num_features == 512
    assert bb.source_head is not None and bb.source_head.in_features == 512
    with torch.no_grad():
        assert bb(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    assert create_backbone("torchvision:resnet18", pretrained=False).spec.architecture == "resnet18"


def test_tv_run_folder_serves_as_backbone(tmp_path):
    from transferlab.model import build_model, load_model

    torch.manual_seed(0)
    model = build_model("tv:resnet18", ["cat", "dog", "fox"], pretrained=False).eval()
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.safetensors")
    bb = create_backbone(str(run)).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(bb(x), model.backbone(x), atol=1e-6)
        assert torch.allclose(bb.forward_source(x), model(x), atol=1e-5)  # its trained head
    assert bb.spec.source == f"file:{run / 'model.safetensors'}"
    assert bb.spec.labels == ("cat", "dog", "fox") and bb.spec.architecture == "resnet18"
    scratch = create_backbone(str(run), pretrained=False)
    assert scratch.spec.source == "torchvision:resnet18" and not scratch.spec.pretrained
    with torch.no_grad():
        assert torch.allclose(load_model(run)(x), model(x), atol=1e-6)


def _tokens(backbone, texts: list[str]) -> dict[str, torch.Tensor]:
    enc = backbone.tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_text_run_folder_serves_as_backbone(tiny_bert, tmp_path):
    from transferlab.engine.recipe import auto_recipe
    from transferlab.model import build_model, load_model

    torch.manual_seed(0)
    first = build_model(f"{tiny_bert}@cls", ["news", "sport"]).eval()
    first.info.extra["max_length"] = 24  # what TextSet.prepare_for records in a real run
    run_a = tmp_path / "run-a"
    run_a.mkdir()
    first.save(run_a / "model.safetensors")

    bb = create_backbone(str(run_a)).eval()
    x = _tokens(bb, ["the match ended late", "markets fell again"])
    with torch.no_grad():
        assert torch.allclose(bb(x), first.backbone(x), atol=1e-6)
        assert torch.allclose(bb.forward_source(x), first(x), atol=1e-5)
    assert bb.pooling == "cls" and bb.max_length == 24
    # its source is now a file, yet it is still text: the recipe and data follow the modality
    assert bb.spec.source.startswith("file:") and bb.spec.modality == "text"
    assert not auto_recipe(100, bb.spec, 0, torch.device("cpu")).flip
    scratch = create_backbone(str(run_a), pretrained=False)
    assert scratch.spec.modality == "text" and not scratch.spec.pretrained

    # a run trained on run A reloads by its encoder's name, even once run A is gone
    second = build_model(str(run_a), ["news", "sport"]).eval()
    assert second.info.extra["encoder"] == f"{tiny_bert}@cls"
    run_b = tmp_path / "run-b"
    run_b.mkdir()
    second.save(run_b / "model.safetensors")
    shutil.rmtree(run_a)
    again = load_model(run_b)
    with torch.no_grad():
        assert torch.allclose(again(x), second(x), atol=1e-6)
    assert again.spec.modality == "text"
