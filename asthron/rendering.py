"""Jinja2 templates and static assets.

HTML templates are autoescaped everywhere. Plain-text templates (the text part of emails) are
not: escaping there would turn "O'Brien & Co" into entities in a person's inbox; text is never
parsed as markup.
"""

TEXT_PREFIX = "jinja2_text."


def includeme(config):
    settings = config.registry["app_settings"]
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path(str(settings.templates_dir), name=".html")
    ini = config.registry.settings
    for key, value in list(ini.items()):
        if key.startswith("jinja2."):
            ini.setdefault(TEXT_PREFIX + key[len("jinja2.") :], value)
    ini[TEXT_PREFIX + "autoescape"] = "false"
    config.add_jinja2_renderer(".txt", settings_prefix=TEXT_PREFIX)
    config.add_jinja2_search_path(str(settings.templates_dir), name=".txt")
    config.add_static_view("static", "asthron:static/", cache_max_age=3600)
