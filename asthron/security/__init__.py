"""Security: the session-based security policy, CSRF, headers and secret encryption."""

from asthron.security.crypto import SecretBox


def includeme(config):
    config.include(".policy")
    config.include(".headers")
    secrets = config.registry["secrets"]
    config.registry["secret_box"] = SecretBox(secrets["fernet_keys"])
    config.add_request_method(lambda r: r.registry["secret_box"], "secret_box", reify=True)
