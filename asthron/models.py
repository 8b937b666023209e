"""Imports every feature's models, so metadata (and Alembic) see all tables."""


def import_all_models() -> None:
    from asthron import domain_events as _domain_events  # noqa: F401
    from asthron.accounts import models as _accounts  # noqa: F401
    from asthron.alerts import models as _alerts  # noqa: F401
    from asthron.assistant import models as _assistant  # noqa: F401
    from asthron.audit import models as _audit  # noqa: F401
    from asthron.bookings import models as _bookings  # noqa: F401
    from asthron.channels import models as _channels  # noqa: F401
    from asthron.conversations import models as _conversations  # noqa: F401
    from asthron.inbox import models as _inbox  # noqa: F401
    from asthron.jobs import models as _jobs  # noqa: F401
    from asthron.knowledge import models as _knowledge  # noqa: F401
    from asthron.leads import models as _leads  # noqa: F401
    from asthron.notify import models as _notify  # noqa: F401
    from asthron.payments import models as _payments  # noqa: F401
    from asthron.privacy import models as _privacy  # noqa: F401
    from asthron.sites import models as _sites  # noqa: F401
    from asthron.webhooks import models as _webhooks  # noqa: F401
