"""Security: the session-based security policy, CSRF, headers and secret encryption."""

from asthron.security.crypto import SecretBox


def includeme(config):
    config.include(".policy")
    config.include(".headers")
    config.include(".methods")
    secrets = config.registry["secrets"]
    config.registry["secret_box"] = SecretBox(secrets["fernet_keys"])
    # Sessions carry the box too, so services can seal data at rest (queued email bodies).
    factory = config.registry["dbsession_factory"]
    factory.configure(
        info={**factory.kw.get("info", {}), "secret_box": config.registry["secret_box"]}
    )
    config.add_request_method(lambda r: r.registry["secret_box"], "secret_box", reify=True)
