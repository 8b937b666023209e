"""Security headers, including a per-request Content Security Policy a view can widen."""

from __future__ import annotations

DEFAULT_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


class ContentSecurityPolicy(dict):
    def render(self) -> str:
        return "; ".join(f"{key} {' '.join(values)}" for key, values in self.items())


def _csp(request) -> ContentSecurityPolicy:
    return ContentSecurityPolicy({k: list(v) for k, v in DEFAULT_CSP.items()})


def security_headers_tween_factory(handler, registry):
    production = registry["app_settings"].production

    def security_headers_tween(request):
        response = handler(request)
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if getattr(request, "csp_disabled", False) is not True:
            headers.setdefault("Content-Security-Policy", request.csp.render())
        if response.content_type == "text/html":
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response

    return security_headers_tween


def includeme(config):
    config.add_request_method(_csp, "csp", reify=True)
    config.add_tween("asthron.security.headers.security_headers_tween_factory")
