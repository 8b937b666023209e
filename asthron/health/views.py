from pyramid.view import view_config

from asthron.health import service


@view_config(route_name="health.check", renderer="json", request_method="GET")
def healthz(request):
    settings = request.app_settings
    report = service.check(request.registry["db_engine"], settings.migrations_dir)
    request.response.status_code = 200 if report["ok"] else 503
    request.response.cache_control = "no-store"
    return report
