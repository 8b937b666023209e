from tests.conversations.conftest import make_site, site  # noqa: F401  (shared fixtures)
