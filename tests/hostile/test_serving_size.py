"""A 28 px image folder trains at 96 px from images stored at 28 px; predict and exported serving
must decode new images the same way (at 28, then resized), not straight to 96 with PIL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_folder
from tests.hostile.clihelp import cli
from transferlab.data import load_dataset
from transferlab.data.transforms import Preprocess
from transferlab.deploy.export import preprocessing_for
from transferlab.deploy.predict import predict_files
from transferlab.deploy.serving import Preprocessing
from transferlab.engine.loop import predict_logits
from transferlab.model import load_model


@pytest.fixture(scope="module")
def run28(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("size28")
    data = write_folder(root / "imgs", classes=2, per_class=6, size=28)
    proc = cli("fit", "--data", data, "--strategy", "head", "--epochs", "1", "--batch-size", "8",
               "--device", "cpu", "--out", root / "runs", "--name", "r")
    assert proc.returncode == 0, proc.stderr
    return root / "runs" / "r", data


def test_model_records_the_stored_size(run28):
    model = load_model(run28[0])
    assert model.info.decode_size == 28  # stored at the originals' size
    assert model.info.image_size == 96  # trained at the CPU recipe's size, as from IDX


def test_predict_gives_the_logits_evaluation_gives(run28):
    run, data = run28
    model = load_model(run)
    image = next((data / "class_1").glob("*.png"))
    row = predict_files(model, [str(image)], top_k=2, device=torch.device("cpu"))[0]
    stored = load_dataset(str(data), "train", 28)
    index = torch.tensor([stored.paths.index(str(image))])
    pre = Preprocess.from_spec(model.spec, model.info.image_size)
    probs = predict_logits(model, stored.subset(index), pre, torch.device("cpu")).softmax(-1)[0]
    top = int(probs.argmax())
    assert row["top"][0]["label"] == model.info.classes[top]
    assert row["top"][0]["prob"] == pytest.approx(float(probs[top]), abs=1e-5)


def test_serving_sidecar_decodes_at_the_stored_size(run28):
    run, data = run28
    pre = preprocessing_for(load_model(run).info)
    assert (pre.decode_size, pre.size) == (28, 96)
    again = Preprocessing.from_dict(pre.to_dict())
    assert again == pre
    image = next((data / "class_0").glob("*.png"))
    assert again.load(image).shape == (96, 96, 3)
    # decoded at 28 first: the same pixels training stored, before the resize to 96
    stored = load_dataset(str(data), "train", 28)
    row = stored.images[torch.tensor([stored.paths.index(str(image))])][0]
    assert np.array_equal(Preprocessing(28, pre.mean, pre.std, stored_size=28).load(image),
                          row.permute(1, 2, 0).numpy())
