"""`fbq up`: the whole stack on one machine (supervisor, embedded Redis, demo and samples).

A layer above the services and the core: nothing below imports it.
"""
