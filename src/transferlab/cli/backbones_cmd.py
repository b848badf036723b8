"""`transferlab backbones`: what can be used here without a network."""

from __future__ import annotations

import argparse

HELP = "list backbones usable offline (bundled weights, local caches)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backbones", help=HELP, description=HELP + ". Any timm architecture "
                       "(timm:NAME) or torchvision model (tv:NAME) also works where its weights "
                       "are cached, and any weights file or transferlab run folder as a PATH.")
    p.add_argument("--all", action="store_true", help="also list every timm architecture name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transferlab.backbones import available_backbones

    print(f"{'name':<24}{'offline':<9}{'source':<42}note")
    for b in available_backbones():
        print(f"{b.name:<24}{'yes' if b.offline else 'no':<9}{b.source:<42}{b.note}")
    if args.all:
        import timm

        print("\ntimm architectures (weights needed locally):")
        print("\n".join(timm.list_models()))
    return 0
