"""Text sources: CSV and .txt folders → TextSet; bad rows reported by file:line, never dropped
silently; batches are dicts trimmed to the longest text in the batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import load_script
from transferlab.data import TextSet, load_dataset, make_splits
from transferlab.data.text_files import is_text_csv, load_text_csv, load_text_folder
from transferlab.errors import ConfigError, DataError

DATA = Path(__file__).parents[1] / "data"


class FakeTokenizer:
    """Whitespace tokenizer with BERT-like [CLS]/[SEP]; enough to test padding and trimming."""

    name_or_path = "fake"
    pad_token_id = 0

    def __len__(self) -> int:
        return 1000

    def __call__(self, texts, truncation=True, max_length=512):
        ids = [[101] + [hash(w) % 900 + 10 for w in t.split()] + [102] for t in texts]
        return {"input_ids": [row[:max_length] for row in ids]}


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_texts_csv_is_detected_and_loaded():
    data = load_dataset(str(DATA / "texts.csv"))
    assert isinstance(data, TextSet)
    assert data.classes == ["cooking", "sports", "technology", "weather"]
    assert len(data) == 600 and not data.skipped
    assert set(data.class_counts().values()) == {150}
    assert data.paths[0] == f"{DATA / 'texts.csv'}:2"  # line 1 is the header


def test_committed_csv_matches_its_generator(tmp_path):
    mod = load_script(DATA / "make_texts.py")
    mod.write_csv(tmp_path / "t.csv", mod.make_rows())
    assert (tmp_path / "t.csv").read_bytes() == (DATA / "texts.csv").read_bytes()


def test_bad_rows_are_reported_by_line(tmp_path):
    csv = write_bytes(tmp_path / "t.csv", (
        b"the match went to extra time,sports\n"        # 1 ok, no header
        b",cooking\n"                                   # 2 empty text
        b"stir the soup slowly\n"                       # 3 missing label
        b"rain all day,\n"                              # 4 empty label
        b"caf\xe9 au lait with sugar,cooking\n"         # 5 latin-1 byte, not UTF-8
        b"\"quoted, with a comma\",weather\n"           # 6 ok
        b"salt, pepper, then butter,cooking\n"))        # 7 ok: unquoted commas tolerated
    data = load_text_csv(csv)
    assert data.texts == ["the match went to extra time", "quoted, with a comma",
                          "salt, pepper, then butter"]
    reasons = {b.path: b.reason for b in data.skipped}
    assert set(reasons) == {f"{csv}:{n}" for n in (2, 3, 4, 5)}
    assert reasons[f"{csv}:2"] == "empty text"
    assert "missing label" in reasons[f"{csv}:3"] and "missing label" in reasons[f"{csv}:4"]
    assert "not valid UTF-8 (byte 0xe9" in reasons[f"{csv}:5"]
    with pytest.raises(DataError, match=r"(?s)4 bad text row.*t\.csv:5: not valid UTF-8.*"
                       r"--on-bad-file skip"):
        load_text_csv(csv, on_bad="error")


def test_unknown_label_and_header_columns(tmp_path):
    csv = write_bytes(tmp_path / "t.csv", b"label,text\nsports,a late goal\nopera,an aria\n"
                      b"weather,sunny spells\n")
    data = load_text_csv(csv, classes=["sports", "weather"])
    assert data.texts == ["a late goal", "sunny spells"]
    assert data.labels.tolist() == [0, 1]
    [bad] = data.skipped
    assert bad.path == f"{csv}:3" and "unknown label 'opera'" in bad.reason


def test_multiline_quoted_text_keeps_its_first_line_number(tmp_path):
    csv = write_bytes(tmp_path / "t.csv", b"text,label\n\"two\nlines\",a\n,b\nok,b\n")
    data = load_text_csv(csv)
    assert data.texts == ["two\nlines", "ok"]
    assert [b.path for b in data.skipped] == [f"{csv}:4"]


def test_image_csv_is_not_taken_for_text(tmp_path):
    csv = write_bytes(tmp_path / "imgs.csv", b"a/1.png,cat\na/2.jpg,dog\n")
    assert not is_text_csv(csv)
    assert is_text_csv(write_bytes(tmp_path / "t.csv", b"a sunny day,weather\nnew gpu,tech\n"))


def test_text_folder_and_bad_files(tmp_path):
    root = tmp_path / "texts"
    write_bytes(root / "sports" / "a.txt", b"A late winner in the derby.\n")
    write_bytes(root / "sports" / "b.txt", b"The keeper saved a penalty.")
    write_bytes(root / "weather" / "a.txt", b"Fog over the valley.")
    write_bytes(root / "weather" / "empty.txt", b"  \n")
    write_bytes(root / "weather" / "bad.txt", b"line one\nmist \xff\xfe\n")
    data = load_dataset(str(root))
    assert isinstance(data, TextSet)
    assert data.classes == ["sports", "weather"] and data.labels.tolist() == [0, 0, 1]
    reasons = {b.path: b.reason for b in data.skipped}
    assert reasons[f"{root / 'weather' / 'empty.txt'}:1"] == "empty text"
    assert "not valid UTF-8 (byte 0xff)" in reasons[f"{root / 'weather' / 'bad.txt'}:2"]
    with pytest.raises(DataError, match="bad.txt:2"):
        load_text_folder(root, on_bad="error")


def test_text_folder_train_test_split(tmp_path):
    for split in ("train", "test"):
        for c in ("a", "b"):
            write_bytes(tmp_path / "d" / split / c / "1.txt", f"{split} {c}".encode())
    train = load_dataset(str(tmp_path / "d"), "train")
    test = load_dataset(str(tmp_path / "d"), "test")
    assert train.texts == ["train a", "train b"] and test.texts == ["test a", "test b"]


def test_batch_is_trimmed_dict_and_subset_keeps_tokens():
    data = TextSet(["one two three four five", "six", "seven eight"],
                   torch.tensor([0, 1, 0]), ["x", "y"], "mem", max_length=5)
    with pytest.raises(DataError, match="not tokenised"):
        data.batch(torch.tensor([0]))
    data.tokenize(FakeTokenizer(), 5)
    assert data.input_ids.shape == (3, 5)  # truncated to max_length, padded to the longest
    b = data.batch(torch.tensor([1, 2]), None, "cpu", True, torch.Generator(), 2.0, True)
    assert set(b) == {"input_ids", "attention_mask"}
    assert b["input_ids"].shape == (2, 4)  # "seven eight" + CLS/SEP
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert b[1:]["input_ids"].tolist() == b["input_ids"][1:].tolist()  # a rank's share
    assert "3 texts x 5 tokens on cpu" == data.place(torch.device("cpu"))
    sub = data.subset(torch.tensor([2]))
    assert sub.texts == ["seven eight"] and sub.batch(torch.tensor([0]))["input_ids"].shape[1] == 4
    before = data.fingerprint()
    data.tokenize(FakeTokenizer(), 3)
    assert data.fingerprint() != before  # another truncation → another feature-cache key


def test_splits_and_image_backbone_mismatch():
    data = load_dataset(str(DATA / "texts.csv"))
    splits = make_splits(data, None, per_class=5, val_fraction=0.0, seed=0)
    assert isinstance(splits.train, TextSet) and len(splits.train) == 20

    class ImageBackbone(torch.nn.Module):
        spec = type("S", (), {"architecture": "efficientnet_lite0"})()

    with pytest.raises(ConfigError, match="--backbone minilm"):
        splits.train.prepare_for(ImageBackbone())
