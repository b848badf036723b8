"""Serve an exported text model with tokenizers + onnxruntime + numpy, and nothing else.

A text export is the graph (token ids, attention mask → logits), the tokenizer's own files in
`<name>-tokenizer/` beside it, and the JSON sidecar (`modality: text`, max length, labels,
temperature). Serving tokenises with the `tokenizers` library from that tokenizer.json, truncated
at the length the model was trained with and right-padded to the longest text of each batch, as
`data.text.TextSet` does in training; the export parity check holds the two together. Like
`serving`, this module imports no torch: TorchScript and safetensors exports import it when
one of those is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from transferlab.data.text_rows import TEXT_HEADERS, read_csv_rows, undecodable_reason
from transferlab.deploy.serving_common import (
    INSTALL_HINT,
    Predictor,
    load_torchscript,
    onnx_failure,
    onnx_session,
)
from transferlab.errors import CheckpointError, ConfigError

TEXT_INPUT_SUFFIXES = (".csv", ".txt")
TOKENIZER_FILE = "tokenizer.json"
Feed = dict[str, np.ndarray]
TextItem = tuple[str, str | None, str | None]  # (where, text, error)


def _csv_texts(path: Path) -> list[TextItem]:
    rows = read_csv_rows(path)
    col = 0
    if rows:
        cells = [c.strip().lower() for c in rows[0][1]]
        hit = next((i for i, c in enumerate(cells) if c in TEXT_HEADERS), None)
        if hit is not None:
            col, rows = hit, rows[1:]
    return [(f"{path}:{n}", row[col] if col < len(row) else "", None) for n, row in rows]


def _txt_texts(path: Path) -> list[TextItem]:
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    return [(f"{path}:{n}", line, None) for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()]


def collect_texts(inputs: Iterable[str | Path]) -> list[TextItem]:
    """(name, text, error) for every text in .csv (its `text` column, else the first) and .txt
    (one per non-blank line) inputs; problems become per-row errors, never exceptions."""
    items: list[TextItem] = []
    for name in map(str, inputs):
        path = Path(name)
        if path.suffix.lower() not in TEXT_INPUT_SUFFIXES or not path.is_file():
            why = "not found" if not path.exists() else "text models read .csv or .txt files"
            items.append((name, None, why))
            continue
        try:
            items += _csv_texts(path) if path.suffix.lower() == ".csv" else _txt_texts(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is one error row
            items.append((name, None, str(exc) or type(exc).__name__))
    checked = []
    for where, text, error in items:
        if error is None and text is not None:
            error = undecodable_reason(text) or (None if text.strip() else "empty text")
        checked.append((where, text.strip() if text else text, error))
    return checked


def text_rows(inputs: Iterable[str | Path]) -> tuple[list[dict], list[tuple[int, str]]]:
    """One row per text (`path` = `file:line`, the text or an error) and the (row, text) pairs
    left to predict: the shared first half of eager and exported text prediction."""
    rows: list[dict] = []
    good: list[tuple[int, str]] = []
    for where, text, error in collect_texts(inputs):
        rows.append({"path": where} | ({"error": error} if error else {"text": text}))
        if not error:
            good.append((len(rows) - 1, text))
    return rows, good


class TextTokenizer:
    """tokenizer.json through `tokenizers`: ids, mask and type ids, int64, right-padded."""

    def __init__(self, file: Path, max_length: int, pad_id: int) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(f"serving a text model needs tokenizers; {INSTALL_HINT}") from exc
        try:
            self.tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:  # noqa: BLE001 - the Rust side raises untyped errors
            raise CheckpointError(f"{file} is not a readable tokenizer.json ({exc}); re-run "
                                  "`transferlab export RUN_DIR`") from exc
        self.tokenizer.no_padding()  # padding is done here, to the batch's longest text
        self.tokenizer.enable_truncation(max_length)
        self.max_length, self.pad_id = max_length, pad_id

    @classmethod
    def from_sidecar(cls, sidecar: dict, model_path: Path) -> TextTokenizer:
        text = sidecar.get("text") or {}
        folder = model_path.parent / str(text.get("tokenizer", ""))
        file = folder / TOKENIZER_FILE
        if not text.get("tokenizer") or not file.is_file():
            raise CheckpointError(
                f"no {TOKENIZER_FILE} for {model_path} (looked in {folder}); the export's "
                "tokenizer folder must stay next to the model file: copy it, or re-run "
                "`transferlab export RUN_DIR`")
        return cls(file, int(text["max_length"]), int(text.get("pad_id", 0)))

    def encode(self, texts: Sequence[str]) -> Feed:
        """input_ids, attention_mask and token_type_ids, (B, longest) int64."""
        encs = self.tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encs), default=1) or 1
        feed = {"input_ids": np.full((len(encs), width), self.pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(encs), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(encs), width), dtype=np.int64)}
        for i, e in enumerate(encs):
            n = len(e.ids)
            feed["input_ids"][i, :n] = e.ids
            feed["attention_mask"][i, :n] = 1
            feed["token_type_ids"][i, :n] = e.type_ids
        return feed


def _onnx_text_runner(path: Path, device: str) -> Callable[[Feed], np.ndarray]:
    session = onnx_session(path, device)
    names = [i.name for i in session.get_inputs()]

    def run(feed: Feed) -> np.ndarray:
        missing = [n for n in names if n not in feed]
        if missing:
            raise CheckpointError(f"{path} asks for inputs {missing} that a text tokenizer "
                                  "does not give; re-run `transferlab export RUN_DIR`")
        try:
            out = session.run(None, {n: feed[n] for n in names})[0]
        except Exception as exc:  # noqa: BLE001 - e.g. a graph with a fixed sequence length
            raise onnx_failure(path, tuple(feed["input_ids"].shape), exc) from exc
        return np.asarray(out, dtype=np.float32)

    return run


def _torch_text_runner(path: Path, fmt: str, names: list[str],
                       device: str) -> Callable[[Feed], np.ndarray]:
    """TorchScript (traced on input_ids, attention_mask) or the eager model (safetensors)."""
    import torch

    dev = torch.device("cpu" if device == "auto" else device)
    if fmt == "torchscript":
        module = load_torchscript(path)
    else:
        from transferlab.model import load_model

        module = load_model(path)
    module = module.to(dev).eval()

    def run(feed: Feed) -> np.ndarray:
        tensors = {n: torch.from_numpy(feed[n]).to(dev) for n in names}
        with torch.no_grad():
            out = module(*tensors.values()) if fmt == "torchscript" else module(tensors)
        return out.float().cpu().numpy()

    return run


class TextExportedPredictor(Predictor):
    """Top-k class names (or a value) for the texts of .csv / .txt files, from a text export.

    Opened by `serving.ExportedPredictor.load` when the sidecar says `modality: text`; this
    module imports `serving_common`, never `serving`, so the two import one way."""

    def __init__(self, runner: Callable[[Feed], np.ndarray], sidecar: dict, path: Path,
                 tokenizer: TextTokenizer) -> None:
        super().__init__(runner, sidecar, path)
        self.tokenizer = tokenizer
        self.preprocessing = None  # texts have no image rule

    @classmethod
    def open(cls, path: Path, fmt: str, sidecar: dict, device: str) -> TextExportedPredictor:
        """The tokenizer beside the export, then the graph by format (ONNX: no torch)."""
        tokenizer = TextTokenizer.from_sidecar(sidecar, path)
        names = [i["name"] for i in sidecar.get("inputs", [])] or ["input_ids", "attention_mask"]
        if fmt == "onnx":
            return cls(_onnx_text_runner(path, device), sidecar, path, tokenizer)
        return cls(_torch_text_runner(path, fmt, names, device), sidecar, path, tokenizer)

    def logits(self, feed: Feed) -> np.ndarray:
        """{input_ids, attention_mask[, token_type_ids]} int64 (B, L) → logits (B, N)."""
        return self.runner(feed)

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Raw texts → logits, tokenised as in training."""
        return self.logits(self.tokenizer.encode(texts))

    def predict_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        raise ConfigError(f"{self.path} is a text model; give it texts (.csv or .txt files)")

    def predict(self, inputs: Iterable[str | Path], top_k: int = 3,
                batch_size: int = 32) -> list[dict]:
        """Rows like the eager `predict_texts`: path (`file:line`), text, top-k or error."""
        rows, good = text_rows(inputs)
        # longest first: a batch is padded to its longest text, so texts of about one length
        # per batch pad little (as engine/inference.py does); rows are filled by index
        good = sorted(good, key=lambda item: -len(item[1]))
        for lo in range(0, len(good), batch_size):
            chunk = good[lo:lo + batch_size]
            logits = self.predict_texts([t for _, t in chunk])
            self.fill_scores(rows, [i for i, _ in chunk], logits, top_k)
        return rows
