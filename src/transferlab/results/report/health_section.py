"""The report's data-health block: data.json's "health" (duplicates, leakage, classes) as HTML."""

from __future__ import annotations

from transferlab.data.health_text import FINDING_TEXT, headline
from transferlab.results.report.text import esc


def health_block(data: dict) -> str:
    """HTML for data.json's "health" ("" when the run has none: runs before the check)."""
    health = data.get("health")
    if not health:
        return ""
    near = health.get("near_duplicates") or {}
    how = (f"near-duplicates (resized, re-encoded or shifted copies) by "
           f"{esc(str(near['method']))}, similarity &ge; {esc(str(near['min_similarity']))}"
           if near.get("method") else "exact duplicates only (text)")
    rows = []
    for key, f in health.get("findings", {}).items():
        examples = "<br>".join(f"{esc(str(a))} ~ {esc(str(b))}" for a, b, _ in f["examples"])
        rows.append(f"<tr><td>{esc(FINDING_TEXT.get(key, key))}</td><td>{f['pairs']}</td>"
                    f"<td>{f['images']}</td><td>{examples}</td></tr>")
    classes = health.get("classes") or {}
    ratio = classes.get("imbalance_ratio")
    extra = f"<p>Imbalance (largest/smallest class): {esc(str(ratio))}</p>" if ratio else ""
    return (f"<h3>Data health</h3><p><b>{esc(headline(health))}</b> ({how}; train = the "
            f"images the model learned from, train and validation)</p>"
            "<table class='left'><tr><th>finding</th><th>pairs</th><th>images</th>"
            f"<th>examples</th></tr>{''.join(rows)}</table>{extra}")
