"""The bundled weights are real ImageNet weights, and the contract holds for every source."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from transferlab.backbones import create_backbone
from transferlab.errors import WeightsError

skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _imagenet_input(img, spec) -> torch.Tensor:
    x = torch.from_numpy(img).permute(2, 0, 1).float().div(255)[None]
    x = F.interpolate(x, size=spec.input_size[1:], mode="bilinear", antialias=True)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0").eval()


def test_bundled_weights_classify_real_photos(lite0):
    with torch.no_grad():
        cat = lite0.forward_source(_imagenet_input(skimage_data.chelsea(), lite0.spec)).argmax()
        coffee = lite0.forward_source(_imagenet_input(skimage_data.coffee(), lite0.spec)).argmax()
    assert int(cat) in CAT_CLASSES
    assert int(coffee) == ESPRESSO
    assert "cat" in lite0.spec.labels[int(cat)].lower()


def test_spec_records_provenance(lite0):
    spec = lite0.spec
    assert spec.pretrained and spec.sha256 and len(spec.sha256) == 64
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))
    assert spec.input_size == (3, 224, 224)
    assert len(spec.labels) == 1000


def test_contract_features_and_stages(lite0):
    feats = lite0(torch.randn(2, 3, 64, 64))
    assert feats.shape == (2, lite0.num_features)
    stages = lite0.stage_groups()
    assert stages[0].name == "conv_stem" and len(stages) >= 5
    owned = {id(p) for s in stages for p in s.parameters()}
    assert owned == {id(p) for p in lite0.parameters()}


def test_random_init_differs_from_pretrained(lite0):
    scratch = create_backbone("efficientnet_lite0", pretrained=False)
    assert not scratch.spec.pretrained
    a = lite0.state_dict()["net.conv_stem.weight"]
    b = scratch.state_dict()["net.conv_stem.weight"]
    assert not torch.allclose(a, b)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(WeightsError, match="efficientnet_lite0"):
        create_backbone("no_such_net")


def test_missing_hub_weights_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsError) as err:
        create_backbone("timm:resnet18")
    text = str(err.value)
    assert "resnet18" in text and "model.safetensors" in text and "Fix:" in text


def test_local_file_backbone_roundtrip(tmp_path):
    from safetensors.torch import save_file

    src = create_backbone("efficientnet_lite0", pretrained=False)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in src.net.state_dict().items()}, str(path))
    loaded = create_backbone(str(path), arch="efficientnet_lite0")
    x = torch.randn(1, 3, 64, 64)
    src.eval(), loaded.eval()
    assert torch.allclose(src(x), loaded(x), atol=1e-6)
    assert loaded.spec.source.startswith("file:")


def test_pickle_that_is_not_weights_only_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(WeightsError, match="weights_only"):
        create_backbone(str(path), arch="efficientnet_lite0")


@pytest.mark.parametrize("head, dropout", [("linear", 0.0), ("linear", 0.2), ("mlp", 0.0)])
def test_transferlab_model_as_backbone_keeps_its_trained_head_as_source_head(tmp_path, head,
                                                                             dropout):
    """A model trained with transferlab has a source task (its classes): LEEP scores it by
    that head, so the head must come back exactly, not as a random classifier."""
    from transferlab.model import build_model
    from transferlab.selection.ranking import has_source_head

    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", ["a", "b", "c"], pretrained=False, head=head,
                        dropout=dropout).eval()
    model.save(tmp_path / "model.safetensors")
    loaded = create_backbone(str(tmp_path)).eval()
    x = torch.randn(2, 3, 64, 64)
    assert loaded.spec.labels == ("a", "b", "c") and has_source_head(loaded)
    assert torch.allclose(loaded.forward_source(x), model(x), atol=1e-5)


def test_plain_state_dict_has_no_source_head(tmp_path):
    from safetensors.torch import save_file

    from transferlab.selection.ranking import has_source_head

    src = create_backbone("efficientnet_lite0", pretrained=False)
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in src.net.state_dict().items()}, str(path))
    loaded = create_backbone(str(path), arch="efficientnet_lite0")
    assert loaded.source_head is None and not has_source_head(loaded)
