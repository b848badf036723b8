"""Export a text model: the graph on (input_ids, attention_mask), its tokenizer, a JSON sidecar.

A text export is useless without the exact tokenizer and token length it was trained with, so
the tokenizer's own files (tokenizer.json, vocab, configs) are copied into `<name>-tokenizer/`
beside the model file, and the sidecar records the length, padding id, labels and temperature.
Then, as for images, the export is reloaded through the serving code a deployment runs
(`serving_text.TextExportedPredictor`: tokenizers + onnxruntime, no torch for ONNX) and its
logits on built-in texts (plus the caller's) are compared with eager PyTorch on the same texts
tokenised the training way: once as one padded batch, and once text by text (no padding,
other sequence lengths), so a graph that froze a batch or sequence size, or dropped the mask,
fails the check instead of shipping.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from transferlab.deploy.export_common import (
    ExportError,
    ExportResult,
    check_parity,
    sidecar_common,
    write_json,
    write_onnx,
    write_torchscript,
)
from transferlab.deploy.serving import ExportedPredictor
from transferlab.deploy.serving_text import TOKENIZER_FILE
from transferlab.model import ModelInfo, TransferModel

TEXT_INPUTS = ("input_ids", "attention_mask")  # what TextBackbone passes to the encoder
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                   "sentencepiece.bpe.model")
PARITY_TEXTS = (
    "The striker scored twice before half time.",
    "Preheat the oven, then whisk the eggs with sugar until pale.",
    "ok",
    "A cold front brings heavy rain and gusts of wind overnight; temperatures drop sharply.",
    "Café crème, naïve façade, Straße, 東京 and an emoji 🙂 in one line.",
    "The compiler rejected the patch: a type error in the parser module.",
    " ".join(["This sentence repeats so that it is longer than the token limit."] * 40),
    "Why?",
)


class TextGraph(nn.Module):
    """(input_ids, attention_mask) → logits: the positional signature ONNX and TorchScript take;
    the wrapped TransferModel is fed the dict it trains on."""

    def __init__(self, model: TransferModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model({"input_ids": input_ids, "attention_mask": attention_mask})


def write_tokenizer(tokenizer, folder: Path) -> list[str]:
    """The tokenizer's own files from the folder it was loaded from (as they are); from
    `save_pretrained` when that folder is gone. Serving needs tokenizer.json (a fast tokenizer)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    source = Path(str(getattr(tokenizer, "name_or_path", "")))
    if source.is_dir() and (source / TOKENIZER_FILE).is_file():
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, folder / name)
    else:
        tokenizer.save_pretrained(str(folder))
    if not (folder / TOKENIZER_FILE).is_file():
        shutil.rmtree(folder)
        raise ExportError(f"the tokenizer of this model ({type(tokenizer).__name__}) has no "
                          f"{TOKENIZER_FILE}; serving without torch needs a fast tokenizer")
    return sorted(p.name for p in folder.iterdir())


def build_text_sidecar(info: ModelInfo, fmt: str, file_name: str, tokenizer_dir: str,
                       files: list[str], pad_id: int, metrics: dict | None = None) -> dict:
    """The common sidecar + the graph's token inputs and how texts become them."""
    return sidecar_common(info, fmt, file_name, metrics) | {
        "inputs": [{"name": n, "shape": ["batch", "sequence"], "dtype": "int64"}
                   for n in TEXT_INPUTS],
        "text": {"max_length": int(info.extra["max_length"]), "tokenizer": tokenizer_dir,
                 "files": files, "pad_id": pad_id, "pooling": info.extra.get("pooling"),
                 "truncation": "longest_first at max_length tokens, special tokens included",
                 "padding": "right, with pad_id, to the longest text of the batch; "
                 "attention_mask 1 on real tokens"},
    }


def eager_logits(model: TransferModel, texts: list[str]) -> tuple[np.ndarray, tuple]:
    """Logits of the training path (TextSet tokenisation, one padded batch) and that batch."""
    from transferlab.data.text import TextSet

    batch_set = TextSet(list(texts), torch.zeros(len(texts), dtype=torch.long), [], "parity")
    batch_set.prepare_for(model)  # the model's own length (sets info.extra["max_length"])
    batch = batch_set.batch(torch.arange(len(texts)))
    with torch.no_grad():
        logits = model(batch).numpy()
    return logits, tuple(batch[n] for n in TEXT_INPUTS)


def _write_graph(model: TransferModel, fmt: str, example: tuple, path: Path) -> None:
    """ONNX with dynamic batch and sequence axes, traced TorchScript, or the weights."""
    if fmt == "onnx":
        axes = {n: {0: "batch", 1: "sequence"} for n in TEXT_INPUTS}
        write_onnx(TextGraph(model).eval(), example, path, axes)
    elif fmt == "torchscript":
        write_torchscript(TextGraph(model).eval(), example, path)
    else:
        model.save(path, metadata={"format": "transferlab-export"})


def export_text_model(model: TransferModel, fmt: str, model_path: Path, sidecar_path: Path, *,
                      texts: list[str] | None = None, tolerance: float = 1e-3,
                      metrics: dict | None = None) -> ExportResult:
    """Graph + `<name>-tokenizer/` + sidecar, checked batched and one text at a time."""
    backbone = model.backbone
    all_texts = list(PARITY_TEXTS) + [t for t in texts or [] if t.strip()]
    reference, example = eager_logits(model, all_texts)
    tok_dir = model_path.with_name(f"{model_path.stem}-tokenizer")
    files = write_tokenizer(backbone.tokenizer, tok_dir)
    pad = backbone.tokenizer.pad_token_id
    sidecar = build_text_sidecar(model.info, fmt, model_path.name, tok_dir.name, files,
                                 0 if pad is None else int(pad), metrics)
    try:
        _write_graph(model, fmt, example, model_path)
    except BaseException:
        shutil.rmtree(tok_dir, ignore_errors=True)
        raise
    write_json(sidecar_path, sidecar)
    served = ExportedPredictor.load(model_path)
    got = np.concatenate([served.predict_texts(all_texts)]
                         + [served.predict_texts([t]) for t in all_texts])
    diff = check_parity(got, np.concatenate([reference, reference]), fmt,
                        [model_path, sidecar_path, tok_dir], tolerance)
    sidecar["parity"] = {"max_abs_diff": diff, "tolerance": tolerance, "inputs": len(all_texts),
                         "reference": "eager PyTorch, fp32, CPU, training tokenisation",
                         "checked_with": "transferlab.deploy.serving_text.TextExportedPredictor,"
                         " one padded batch and one text at a time"}
    write_json(sidecar_path, sidecar)
    return ExportResult(fmt, model_path, sidecar_path, diff, tolerance, len(all_texts),
                        [tok_dir])
