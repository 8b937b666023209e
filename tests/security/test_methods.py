"""Methods the application does not serve are a 405 naming those it does, never a 404 or 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("method", ["TRACE", "TRACK", "CONNECT", "PUT", "DELETE", "PATCH", "FOO"])
@pytest.mark.parametrize("path", ["/", "/login", "/api/widget/v1/sessions", "/nowhere"])
def test_unserved_methods_are_405(testapp, method, path):
    response = testapp.request(path, method=method, status="*")

    assert response.status_int == 405
    assert response.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    # An error page like any other, with the security headers.
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/healthz", "GET, HEAD"),
        ("GET", "/logout", "POST"),
        ("GET", "/api/widget/v1/sessions", "POST"),
    ],
)
def test_a_route_without_a_view_for_the_method_is_405(testapp, method, path, allow):
    response = testapp.request(path, method=method, status="*")

    assert response.status_int == 405
    assert response.headers["Allow"] == allow


def test_unknown_paths_stay_404(testapp):
    assert testapp.request("/nowhere", method="POST", status="*").status_int == 404
