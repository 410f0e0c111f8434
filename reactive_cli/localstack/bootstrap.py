"""Before the master and the clients start: the topic and queues, and every database.

Also how the stack runs a module with a project's python and environment (``run_module``):
migrations here, the demo accounts in ``demo``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from reactive_cli.localstack.layout import Layout
from reactive_users.core.errors import StackError
from reactive_users.core.settings import Settings
from reactive_users.core.statedir import PRIVATE_UMASK


def run_module(
    layout: Layout, env: Mapping[str, str], module: str, *args: str, stdin: str | None = None
) -> None:
    """``python -m MODULE ARGS`` in the state directory with ``env`` added, ``stdin`` its
    input; a ``StackError`` with the end of its stderr if it fails."""
    result = subprocess.run(
        [layout.python, "-m", module, *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        cwd=layout.state_dir,
        umask=PRIVATE_UMASK,  # the databases migrate creates are private
    )
    if result.returncode != 0:
        raise StackError(
            f"python -m {module} {' '.join(args)} failed: {result.stderr.strip()[-800:]}"
        )


def bootstrap(layout: Layout) -> None:
    """Provision the embedded SNS/SQS (and record what exists), migrate every database
    (none with ``infra_only``: the operator's own projects migrate their own)."""
    # Imported here: the commands import this package, and only `up` needs boto3.
    from reactive_cli.provision import ClientSpec, ensure
    from reactive_users.core import resources

    os.environ.update({k: v for k, v in layout.common_env().items() if k.startswith("AWS_")})
    settings = Settings.from_env(layout.common_env())
    produced = ensure(settings, [ClientSpec(name=name) for name in layout.clients])
    resources.record(
        settings.state_dir,
        settings.prefix,
        produced.as_json(),
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    if layout.infra_only:
        return
    if (layout.state_dir / "master.sqlite3").exists():
        # A master database of an earlier checkout may hold the outbox under the app's
        # former label "users": move it first, or migrate refuses (reactive_users.E008).
        run_module(layout, layout.master_env(), "master", "reactive_relabel", "--if-needed")
    run_module(layout, layout.master_env(), "master", "migrate", "--verbosity", "0")
    for name in layout.clients:
        run_module(layout, layout.client_env(name), "client", "migrate", "--verbosity", "0")
