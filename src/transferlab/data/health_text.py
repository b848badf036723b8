"""The health check as readable text: what `transferlab check` prints (from its dict form,
so a data.json's "health" reads the same way)."""

from __future__ import annotations

SMALL_CLASS = 10  # fewer images than this: too few to hold out test and validation images


def report_lines(health: dict) -> list[str]:
    lines = [f"checked {health['train']} train and {health['test']} test images "
             f"in {health['seconds']:.1f}s"]
    near = health["near_duplicates"]
    if near.get("method"):
        lines.append(f"near-duplicates (resized, re-encoded or shifted copies): "
                     f"{near['method']}, similarity >= {near['min_similarity']}")
    else:
        lines.append("near-duplicates: not checked (text: exact duplicates only)")
    for key, f in health["findings"].items():
        lines.append(f"{FINDING_TEXT[key]}: {f['pairs']} pairs, {f['images']} images")
        lines += [f"  {a}  ~  {b}" + (f"  (similarity {d})" if key.startswith("near") else "")
                  for a, b, d in f["examples"]]
        if f["pairs"] > len(f["examples"]):
            lines.append(f"  ... {f['pairs'] - len(f['examples'])} more")
    lines += _class_lines(health.get("classes"))
    lines += _image_lines(health.get("images"))
    bad = health.get("bad_files") or {}
    if bad.get("count"):
        reasons = ", ".join(f"{r} ({n})" for r, n in bad["reasons"].items())
        lines.append(f"bad files: {bad['count']}: {reasons}")
        lines += [f"  {path}: {reason}" for path, reason in bad["examples"]]
    lines.append(headline(health))
    return lines


def _class_lines(classes: dict | None) -> list[str]:
    if not classes:
        return []
    counts = ", ".join(f"{c} {n}" for c, n in list(classes["counts"].items())[:20])
    more = len(classes["counts"]) - 20
    lines = [f"classes ({len(classes['counts'])}): {counts}" + (f", ... {more} more"
                                                               if more > 0 else ""),
             f"imbalance (largest/smallest): {classes['imbalance_ratio']}"]
    if classes["small"]:
        small = ", ".join(f"{c} {n}" for c, n in classes["small"].items())
        lines.append(f"classes under {SMALL_CLASS} images (too few to hold out test and "
                     f"validation images): {small}")
    if classes["empty"]:
        lines.append(f"classes with no image: {', '.join(classes['empty'])}")
    return lines


def _image_lines(images: dict | None) -> list[str]:
    if not images:
        return []
    modes = ", ".join(f"{m} {n}" for m, n in (images.get("modes") or {}).items())
    if "width" in images:
        w, h = images["width"], images["height"]
        size = (f"originals {w['min']}-{w['max']} x {h['min']}-{h['max']} px "
                f"(median {w['median']} x {h['median']})")
    else:
        size = "no original files (IDX)"
    shape = "x".join(str(v) for v in images["stored_shape"])
    return [f"images: {size}; modes: {modes}; stored as {shape}"]


FINDING_TEXT = {
    "exact_train": "exact duplicates in train",
    "exact_leak": "train↔test exact duplicates (leakage)",
    "near_train": "near-duplicate pairs in train",
    "near_leak": "train↔test near-duplicate pairs (leakage)",  # copies, not look-alikes
}


def headline(health: dict) -> str:
    found = [f"{f['pairs']} {FINDING_TEXT[k]}" for k, f in health["findings"].items()
             if f["pairs"]]
    classes = health.get("classes") or {}
    ratio = classes.get("imbalance_ratio")
    if ratio is not None and ratio > 3:
        found.append(f"classes imbalanced {ratio}:1")
    if classes.get("small"):
        found.append(f"{len(classes['small'])} class(es) under {SMALL_CLASS} images")
    bad = (health.get("bad_files") or {}).get("count", 0)
    if bad:
        found.append(f"{bad} bad files")
    return "check: " + (", ".join(found) if found else
                        "no duplicate images or train↔test copies found")
