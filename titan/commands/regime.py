"""`titan regime fit FILE.csv --column NAME [...]`: offline fit of a regime model."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("regime", help="regime models (offline tools)")
    regime_sub = parser.add_subparsers(dest="regime_command", metavar="SUBCOMMAND")
    fit = regime_sub.add_parser(
        "fit",
        help="fit a Markov-switching model to one CSV column",
        # Every argument, options included, goes to the fit tool (`--help` too): with no
        # option prefix of its own this parser leaves `--column` etc. to REMAINDER.
        add_help=False,
        prefix_chars="+",
    )
    fit.add_argument("argv", nargs=argparse.REMAINDER)
    fit.set_defaults(func=_fit)
    parser.set_defaults(func=_help(parser))


def _help(parser: argparse.ArgumentParser) -> object:
    def show(args: argparse.Namespace) -> int:
        if getattr(args, "regime_command", None) is None:
            parser.print_help()
            return 2
        return 0

    return show


def _fit(args: argparse.Namespace) -> int:
    from services.regime.cli_fit import run_fit

    return run_fit(list(args.argv))
