"""Bookings: services, staff and resources with their hours, free slots, booking without
double booking, external calendars (CalDAV).

It imports no other feature; it plugs into the message path through hooks.
"""
