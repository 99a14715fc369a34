"""Input of the desk's pages, checked before anything reaches a service (bad input: 400)."""

from __future__ import annotations

from typing import Any

from django import forms

SYMBOL_MAX = 16
# ISO only: Django would also read 01/02/2020, which is a different day in half the world.
ISO_DATE = ["%Y-%m-%d"]


class PairForm(forms.Form):
    """Two symbols and the period to study them over."""

    a = forms.CharField(max_length=SYMBOL_MAX, label="Leg A")
    b = forms.CharField(max_length=SYMBOL_MAX, label="Leg B")
    start = forms.DateField(input_formats=ISO_DATE, help_text="YYYY-MM-DD, inclusive")
    end = forms.DateField(input_formats=ISO_DATE, help_text="YYYY-MM-DD, inclusive")

    def clean_a(self) -> str:
        return str(self.cleaned_data["a"]).strip().upper()

    def clean_b(self) -> str:
        return str(self.cleaned_data["b"]).strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("a") and data.get("a") == data.get("b"):
            raise forms.ValidationError("a pair needs two different symbols")
        start, end = data.get("start"), data.get("end")
        if start and end and start >= end:
            raise forms.ValidationError(f"start {start} must be before end {end}")
        return data


class BacktestForm(PairForm):
    """A backtest over an entry/exit z-score grid (comma-separated values, optional)."""

    entry_z = forms.CharField(required=False, help_text="e.g. 1.5,2,2.5")
    exit_z = forms.CharField(required=False, help_text="e.g. 0.5")

    def _grid_values(self, name: str) -> list[float]:
        raw = str(self.cleaned_data.get(name) or "").strip()
        if not raw:
            return []
        try:
            return [float(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(f"{name}: numbers separated by commas") from None

    def clean_entry_z(self) -> list[float]:
        return self._grid_values("entry_z")

    def clean_exit_z(self) -> list[float]:
        return self._grid_values("exit_z")

    def grid(self) -> dict[str, list[float]]:
        return {k: self.cleaned_data[k] for k in ("entry_z", "exit_z") if self.cleaned_data[k]}
