"""System checks: what the master publishes must be plain, non-secret fields of the project's
user model (``AUTH_USER_MODEL``), its login field among them, so that a misconfiguration
fails ``manage.py check`` (and every ``runserver``/``migrate``) instead of publishing nothing
or something it must not.

    reactive_users.E001  REACTIVE_USER_FIELDS names a field the user model does not have
    reactive_users.E002  ... a field that cannot travel (a relation to many, JSON, binary)
    reactive_users.E003  ... a password or secret-looking field (*password*, *token*, ...)
    reactive_users.E004  ... without the model's USERNAME_FIELD, the login identity
    reactive_users.E005  the user model's primary key is not an integer (the wire's user_id)
    reactive_users.E006  REACTIVE_EXCLUDE_USER does not name a callable
    reactive_users.E007  REACTIVE_RELAY="celery" without REACTIVE_CELERY_APP
    reactive_users.E008  (database) the outbox is still under the app's former label, so
                         ``migrate`` would create empty tables beside it: run
                         ``manage.py reactive_relabel`` first (``relabel.py``)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error
from django.db import models
from django.db.migrations.recorder import MigrationRecorder

from reactive_users.master import conf, fields, labels, relabel

#: Fields that never leave the master, whatever their name looks like.
NEVER_PUBLISHED = frozenset({"id", "pk", "password", "last_login", "is_staff", "is_superuser"})


def check_user_fields(**kwargs: Any) -> list[CheckMessage]:
    """Refuse an allow-list the user model cannot publish (E001-E005), one error per field."""
    model = fields.user_model()
    label = model._meta.label
    concrete = {f.name: f for f in model._meta.get_fields() if not f.auto_created or f.concrete}
    published = fields.published_fields()
    errors: list[CheckMessage] = []
    for name in published:
        field = concrete.get(name)
        if field is None:
            allowed = sorted(
                n for n, f in concrete.items() if _secret(n) is None and not fields.cannot_travel(f)
            )
            errors.append(
                _error(
                    1,
                    f"names {name!r}: {label} has no such field",
                    (f"Remove it from REACTIVE_USER_FIELDS, or use some of: {', '.join(allowed)}."),
                )
            )
        elif (why := _secret(name)) is not None:
            errors.append(
                _error(
                    3,
                    f"names {name!r}: {why}; it never leaves the master",
                    (f"Remove {name!r} from REACTIVE_USER_FIELDS."),
                )
            )
        elif (why := fields.cannot_travel(field)) is not None:
            errors.append(
                _error(
                    2,
                    f"names {name!r}, which cannot travel: it is {why}",
                    (
                        f"Remove {name!r} from REACTIVE_USER_FIELDS, or publish a plain field "
                        "holding what clients need."
                    ),
                )
            )
    login = fields.login_field(model)
    if login not in published:
        errors.append(
            _error(
                4,
                f"leaves out {login!r}, the USERNAME_FIELD of {label}",
                (f"Add {login!r} to REACTIVE_USER_FIELDS: the login identity travels under it."),
            )
        )
    pk = model._meta.pk
    if not isinstance(pk, models.IntegerField | models.ForeignKey):
        errors.append(
            Error(
                f"{label}'s primary key {getattr(pk, 'name', '?')!r} is not an integer",
                hint="Events name users by an integer master id: give the user model an "
                "AutoField or BigAutoField primary key.",
                id="reactive_users.E005",
            )
        )
    return errors


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a REACTIVE_EXCLUDE_USER that is no callable (E006), and a Celery relay whose
    Celery app is not named (E007)."""
    errors: list[CheckMessage] = []
    path = getattr(django_settings, "REACTIVE_EXCLUDE_USER", None)
    if path:
        try:
            rule = conf.exclude_rule()
        except ImportError as exc:
            rule, why = None, str(exc)
        else:
            why = "it is not callable"
        if not callable(rule):
            errors.append(
                Error(
                    f"REACTIVE_EXCLUDE_USER={path!r}: {why}",
                    hint="Name a function taking a user and returning True for one clients must "
                    "not hold, e.g. 'accounts.rules.is_internal'.",
                    id="reactive_users.E006",
                )
            )
    if conf.relay_mode() == "celery" and not getattr(django_settings, "REACTIVE_CELERY_APP", ""):
        errors.append(
            Error(
                'REACTIVE_RELAY="celery" but REACTIVE_CELERY_APP is not set',
                hint="Set REACTIVE_CELERY_APP to your Celery app's dotted path, e.g. "
                '"config.celery.app", or leave REACTIVE_RELAY at "thread".',
                id="reactive_users.E007",
            )
        )
    return errors


def check_legacy_label(
    *, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Refuse (E008) a database that holds the app's tables while none of its migrations is
    recorded under the installed label: migrated under the former label ``users``, or under
    a label the project has since changed. ``migrate`` runs this before it changes anything;
    ``check`` runs it with ``--database``."""
    errors: list[CheckMessage] = []
    for alias in databases or ():
        found = relabel.inspect(alias, labels.LEGACY_LABEL)
        if found.recorded_now:
            continue
        if relabel.legacy_tables_present(found) and found.recorded_old & found.ours:
            tables = ", ".join(sorted(labels.LEGACY_TABLES.values()))
            errors.append(
                Error(
                    f"database {alias!r} holds the outbox under the app's former label "
                    f"'users' ({tables}); migrate would create empty tables beside it and "
                    "its unsent events would never be published",
                    hint=f"Run `manage.py reactive_relabel --database {alias}` (renames the "
                    f"tables and moves Django's records to {found.label!r} in one "
                    "transaction), then migrate.",
                    id="reactive_users.E008",
                )
            )
        elif labels.TABLES["outboxevent"] in found.tables:
            others = sorted(
                MigrationRecorder.Migration.objects.using(alias)
                .filter(name="0002_outbox_claim")
                .values_list("app", flat=True)
            )
            errors.append(
                Error(
                    f"database {alias!r} holds the app's tables but no migration of it under "
                    f"its label {found.label!r} (recorded under: {', '.join(others) or 'none'})",
                    hint="The app was relabelled: run `manage.py reactive_relabel --from "
                    f"{others[0] if others else 'OLD_LABEL'} --database {alias}`, then migrate.",
                    id="reactive_users.E008",
                )
            )
    return errors


def _secret(name: str) -> str | None:
    """Why ``name`` must never travel, or None."""
    if name in NEVER_PUBLISHED:
        return "a password, login time, privilege flag or id"
    if fields.SECRET_NAME.search(name):
        return "its name looks like a secret (password, token, secret, key)"
    return None


def _error(number: int, what: str, hint: str) -> Error:
    return Error(f"REACTIVE_USER_FIELDS {what}", hint=hint, id=f"reactive_users.E00{number}")
