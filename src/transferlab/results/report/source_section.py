"""The chain source → target in report.html: which run a backbone came from, in one line.

A fit whose backbone was a transferlab run keeps that run's provenance in config.yaml
(`source_run`); a `compare --backbones` keeps each backbone's in comparison.json
(`backbones`). Both are shown with the same words the terminal printed
(results/provenance.py), right under the results, so the reader sees what was transferred.
"""

from __future__ import annotations

from transferlab.results.provenance import provenance_line
from transferlab.results.report.rundata import LoadedRun
from transferlab.results.report.text import esc


def source_items(run: LoadedRun) -> list[tuple[str, str, dict | None]]:
    """(label, backbone, provenance or None) for each backbone this run transferred from."""
    listed = (run.comparison or {}).get("backbones") or []
    if listed:
        return [(str(b.get("label")), str(b.get("backbone")), b.get("source")) for b in listed]
    out = []
    for s in run.strategies:
        source = s.config.get("source_run") if isinstance(s.config, dict) else None
        if isinstance(source, dict):
            out.append((s.name, str((s.config.get("config") or {}).get("backbone")), source))
    return out


def source_block(run: LoadedRun) -> str:
    """A short list: each backbone and, for a transferlab run, its provenance line."""
    items = source_items(run)
    if not items:
        return ""
    lis = "".join(f"<li><b>{esc(label)}</b> = {esc(name)}"
                  + (f"<br><span class='note'>{esc(provenance_line(prov))}</span>"
                     if prov else "") + "</li>" for label, name, prov in items)
    return f"<h3>Transferred from</h3><ul>{lis}</ul>"
