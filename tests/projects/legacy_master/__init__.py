"""A database as an earlier reactive-users left it: the master app under the label ``users``.

``users`` here is a frozen copy of that app's models and migrations (as of commit 7e9bf56),
so that the upgrade (``manage.py reactive_relabel``) is tested on exactly the tables,
indexes and records those migrations made, on SQLite and PostgreSQL alike. Only the tests
migrate it (``DATABASE_URL`` names a scratch database).
"""
