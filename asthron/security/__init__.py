"""Security primitives: roles and permissions, headers and CSP, tokens, SSRF checks and
secret encryption. (The session-based security policy is asthron.accounts.policy.)"""

from asthron.db import add_session_info
from asthron.security.crypto import SecretBox


def includeme(config):
    config.include(".headers")
    config.include(".methods")
    secrets = config.registry["secrets"]
    config.registry["secret_box"] = SecretBox(secrets["fernet_keys"])
    # Sessions carry the box too, so services can seal data at rest (queued email bodies).
    add_session_info(config, secret_box=config.registry["secret_box"])
    config.add_request_method(lambda r: r.registry["secret_box"], "secret_box", reify=True)
