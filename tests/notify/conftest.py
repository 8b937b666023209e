from tests.notify.smtp import configure_smtp, smtp_server

__all__ = ["configure_smtp", "smtp_server"]
