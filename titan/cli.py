"""The `titan` command: one entry point, subcommands registered by modules in titan.commands.

Each module in COMMAND_MODULES exposes `register(subparsers)`; it adds its parser and sets
`func` (argparse.Namespace -> int exit code). Imports of heavy service code happen inside
the command functions so that `titan --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "titan.commands.infra",
    "titan.commands.run",
    "titan.commands.feed",
    "titan.commands.demo",
    "titan.commands.pairs",
    "titan.commands.regime",
    "titan.commands.signals",
    "titan.commands.backtest",
    "titan.commands.up",
    "titan.commands.console",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="titan", description="TITAN statistical-arbitrage platform"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command module not written yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(list(argv) if argv is not None else None)
    if extra:
        # Commands that hand their arguments to another parser (`pairs screen`, `regime
        # fit`) collect them in `argv`; argparse's REMAINDER misses a leading option such
        # as --help, which lands here instead.
        if not hasattr(args, "argv"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.argv = [*extra, *args.argv]
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
