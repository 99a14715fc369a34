"""The console's HTML: one shell per page; static/console.js fills it from the /api/ JSON.

Plain HTML and JavaScript, no build step: the charting library is the standalone bundle of
lightweight-charts from npm (deploy/console, installed by deploy/setup.sh), served here.
"""

from __future__ import annotations

from html import escape

NAV = (
    ("pairs", "/", "Pairs"),
    ("regime", "/regime", "Regime"),
    ("signals", "/signals", "Live signals"),
    ("portfolio", "/portfolio", "Portfolio"),
    ("backtests", "/backtests", "Backtests"),
)
CHARTS_JS = "/assets/lightweight-charts/lightweight-charts.standalone.production.js"


def shell(page: str, title: str, body: str, **data: str) -> str:
    """A page: navigation, `body`, and a <main> whose data-* attributes tell console.js what
    to load (the page, a pair id)."""
    links = "".join(
        f'<a href="{href}"{" class=current" if key == page else ""}>{label}</a>'
        for key, href, label in NAV
    )
    attrs = "".join(f' data-{escape(k.replace("_", "-"))}="{escape(v)}"' for k, v in data.items())
    return (
        '<!DOCTYPE html><html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">'
        f"<title>{escape(title)} - TITAN console</title>"
        '<link rel=stylesheet href="/static/console.css">'
        f'<script src="{CHARTS_JS}"></script>'
        '<script src="/static/console.js" defer></script></head><body>'
        f'<header><strong>TITAN</strong><nav>{links}</nav><span id="status"></span></header>'
        f'<main id="main" data-page="{escape(page)}"{attrs} data-state="loading">'
        f"{body}</main></body></html>"
    )


def pairs_page() -> str:
    return shell(
        "pairs",
        "Pairs",
        "<h1>Pairs</h1><table id=pairs><thead><tr><th>pair</th><th>state</th><th>since</th>"
        "<th>p-value</th><th>half-life (bars)</th><th>hedge ratio</th><th>tested until</th>"
        "</tr></thead><tbody></tbody></table>",
    )


def pair_page(pair_id: str) -> str:
    return shell(
        "pair",
        pair_id,
        f"<h1>Pair {escape(pair_id)}</h1><p id=summary></p>"
        "<h2>Price legs</h2><div class=chart id=chart-prices></div>"
        "<h2>Spread</h2><div class=chart id=chart-spread></div>"
        "<h2>z-score <small id=thresholds></small></h2><div class=chart id=chart-z></div>"
        "<h2>Regime probabilities <small id=regime-scope></small></h2>"
        "<div class='chart short' id=chart-regime></div>"
        "<h2>Signals</h2><table id=signals><thead><tr><th>bar</th><th>action</th><th>z</th>"
        "<th>reason</th></tr></thead><tbody></tbody></table>",
        pair_id=pair_id,
    )


def regime_page() -> str:
    return shell(
        "regime",
        "Market regime",
        "<h1>Market regime</h1><table id=regimes><thead><tr><th>scope</th><th>bar</th>"
        "<th>regime</th><th>probabilities</th><th>model</th></tr></thead><tbody></tbody>"
        "</table><h2>Market regime probabilities</h2><div class=chart id=chart-market></div>",
    )


def signals_page() -> str:
    return shell(
        "signals",
        "Live signals",
        "<h1>Live signals <small id=stream-state>connecting</small></h1>"
        "<table id=signals><thead><tr><th>bar</th><th>pair</th><th>action</th><th>z</th>"
        "<th>regime</th><th>reason</th></tr></thead><tbody></tbody></table>",
    )


def portfolio_page() -> str:
    return shell(
        "portfolio",
        "Portfolio",
        "<h1>Portfolio</h1><p id=risk></p><h2>Equity</h2><div class=chart id=chart-equity></div>"
        "<h2>Drawdown</h2><div class='chart short' id=chart-drawdown></div>"
        "<h2>Pair positions</h2><table id=pair-positions><thead><tr><th>pair</th>"
        "<th>position</th><th>details</th></tr></thead><tbody></tbody></table>"
        "<h2>Symbol positions</h2><table id=positions><thead><tr><th>symbol</th><th>details</th>"
        "</tr></thead><tbody></tbody></table>",
    )


def backtests_page() -> str:
    return shell(
        "backtests",
        "Backtests",
        "<h1>Backtest jobs</h1><table id=jobs><thead><tr><th>job</th><th>kind</th><th>pair</th>"
        "<th>status</th><th>progress</th><th>submitted</th><th>report</th></tr></thead>"
        "<tbody></tbody></table>",
    )


def error_page(status: int, message: str) -> str:
    return shell("error", f"{status}", f"<h1>{status}</h1><p class=error>{escape(message)}</p>")
