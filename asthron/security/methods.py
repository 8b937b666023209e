"""405 for HTTP methods the application does not serve.

TRACE, CONNECT, PUT, DELETE, PATCH or an invented method used to fall through to "not found";
now they are refused as such, before routing, with the methods that are served. A known method
on a route that has no view for it (``POST /healthz``) is a 405 naming the route's methods.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPMethodNotAllowed
from pyramid.tweens import MAIN

SERVED_METHODS = ("GET", "HEAD", "POST", "OPTIONS")


def method_not_allowed(allowed) -> HTTPMethodNotAllowed:
    return HTTPMethodNotAllowed(
        "This method is not allowed here.", headers={"Allow": ", ".join(allowed)}
    )


def route_methods(request) -> list[str]:
    """The methods the matched route's views accept."""
    introspector = request.registry.introspector
    route = introspector.get("routes", request.matched_route.name)
    methods: set[str] = set()
    for related in introspector.related(route) if route is not None else ():
        if related.category_name != "views":
            continue
        declared = related["request_methods"]
        if declared is None:
            return list(SERVED_METHODS)
        methods.update([declared] if isinstance(declared, str) else declared)
    if "GET" in methods:
        methods.add("HEAD")
    return [m for m in SERVED_METHODS if m in methods]


def served_methods_tween_factory(handler, registry):
    def served_methods_tween(request):
        if request.method not in SERVED_METHODS:
            raise method_not_allowed(SERVED_METHODS)
        return handler(request)

    return served_methods_tween


def includeme(config):
    # Just above the router: the exception views render the 405, and the security headers
    # tween, above them, still adds its headers.
    config.add_tween("asthron.security.methods.served_methods_tween_factory", over=MAIN)
