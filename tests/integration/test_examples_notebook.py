"""examples/quickstart.ipynb executed top to bottom by a real Jupyter kernel (nbclient)
against the running services, so the notebook cannot rot."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.examples_support import EXAMPLES, examples_services, subprocess_env

pytestmark = pytest.mark.integration
__all__ = ["examples_services"]  # the fixture

CELL_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def executed(examples_services: Any) -> Any:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    # The kernel finds the services as a user's would: from its environment, no set-up code.
    client.execute(env=subprocess_env(examples_services.env))
    return notebook


def _cell(notebook: Any, tag: str) -> Any:
    cells = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"one cell tagged {tag!r}"
    return cells[0]


def _text(cell: Any) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def test_notebook_connects_and_sees_every_service(executed: Any) -> None:
    health = _text(_cell(executed, "connect"))
    for service in ("market_data", "pairs", "regime", "signals", "backtest"):
        assert f"'{service}': True" in health


def test_notebook_lists_the_pairs_and_tests_one(executed: Any, examples_services: Any) -> None:
    listed = _text(_cell(executed, "pairs"))
    first = examples_services.pairs[0]
    assert first in listed
    assert "p-value" in _text(_cell(executed, "test"))


def test_notebook_plots_the_spread_with_its_signals(executed: Any) -> None:
    cell = _cell(executed, "spread-plot")
    images = [o for o in cell.outputs if "data" in o and "image/png" in o.data]
    assert len(images) == 1
    assert "signals in the period" in _text(cell)


def test_notebook_runs_a_backtest_to_its_metrics(executed: Any) -> None:
    text = _text(_cell(executed, "backtest"))
    assert "completed 100%" in text
    assert "sharpe" in text.lower()
