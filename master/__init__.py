"""The master Django project: it owns the users and publishes their changes.

Kept empty on purpose: importing ``master`` must not pull in Celery (``master.celery`` does).
"""
