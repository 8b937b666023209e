"""Jinja2 templates (autoescaped everywhere) and static assets."""


def includeme(config):
    settings = config.registry["app_settings"]
    for extension in (".html", ".txt"):
        config.add_jinja2_renderer(extension)
        config.add_jinja2_search_path(str(settings.templates_dir), name=extension)
    config.add_static_view("static", "asthron:static/", cache_max_age=3600)
