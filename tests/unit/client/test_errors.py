"""The service's message and status become typed exceptions (pure)."""

from __future__ import annotations

import pytest

from titan.client.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    TitanError,
    detail_message,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, InvalidRequest), (422, InvalidRequest), (404, NotFound), (409, Conflict),
     (503, ServiceUnavailable), (500, ServiceError), (502, ServiceError), (418, TitanError)],
)  # fmt: skip
def test_each_status_maps_to_its_exception_with_service_and_message(
    status: int, kind: type[TitanError]
) -> None:
    error = error_for_status("pairs", status, "unknown pair 'A~B'")
    assert type(error) is kind
    assert (error.service, error.status) == ("pairs", status)
    assert str(error) == "pairs: unknown pair 'A~B'"


def test_bad_input_and_not_found_are_also_the_builtin_kinds() -> None:
    assert isinstance(error_for_status("x", 422, "m"), ValueError)
    assert isinstance(error_for_status("x", 404, "m"), LookupError)


def test_detail_string_validation_list_and_fallback() -> None:
    assert detail_message({"detail": "start must be before end"}, "-") == "start must be before end"
    validation = {"detail": [{"loc": ["query", "limit"], "msg": "must be <= 1000"},
                             {"loc": ["body", "a"], "msg": "field required"}]}  # fmt: skip
    assert detail_message(validation, "-") == "query.limit: must be <= 1000; a: field required"
    assert detail_message(None, "Bad Gateway") == "Bad Gateway"
