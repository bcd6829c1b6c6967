"""``tagger serve`` and ``tagger users``: registered in ``tagger/cli.py``; heavy imports stay inside."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

DEFAULT_USERS = Path(os.environ.get("TAGGER_USERS_FILE", "workspace/users.json"))
USERS = typer.Option(DEFAULT_USERS, "--users", help="the users file (default: $TAGGER_USERS_FILE or "
                                                    "workspace/users.json)")


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def serve(store: Path = typer.Option(..., "--store", help="the LF store folder"),
          runs: Path = typer.Option(..., "--runs", help="the folder of run directories (a config's output_dir)"),
          config: Path = typer.Option(None, "--config", help="run config whose pool and gold_dev measure LFs "
                                                             "(statistics, sample hits, conflicts, edit and test)"),
          host: str = typer.Option("127.0.0.1", help="address to bind (localhost by default)"),
          port: int = typer.Option(8000, help="the port to listen on"),
          users: Path = USERS,
          https_only: bool = typer.Option(False, "--https-only", help="mark the session cookie Secure (behind TLS)")):
    """Serve the LF review app: queue, LF pages, edit and test, runs, label issues, reports."""
    import logging

    from tagger.web.app import Settings
    from tagger.web.app import serve as _serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not users.exists():
        _fail(f"no users file {users}: add an account first with `tagger users add NAME --role reviewer --users {users}`")
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(f"warning: listening on {host}, not only this machine; put it behind TLS (--https-only)",
                    fg=typer.colors.YELLOW, err=True)
    secret = os.environ.get("TAGGER_WEB_SECRET")
    settings = Settings(store=store, runs=runs, users=users, config=config, https_only=https_only,
                        **({"secret_key": secret} if secret else {}))
    typer.echo(f"serving {store} and {runs} on http://{host}:{port}/", err=True)
    _serve(settings, host=host, port=port)


users_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Accounts of the review app (`tagger serve`).")


@users_app.command("add")
def users_add(name: str = typer.Argument(..., help="the login name"),
              role: str = typer.Option(..., "--role", help="reviewer (approves, rejects, edits) or viewer (reads)"),
              password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
              replace: bool = typer.Option(False, "--replace", help="change an existing user's role or password"),
              users: Path = USERS):
    """Add a user (argon2id-hashed password from a prompt or --password-stdin)."""
    from tagger.web.users import UserError, Users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        Users(users).add(name, role, password, replace=replace)
    except UserError as e:
        _fail(str(e))
    typer.echo(f"{name} ({role}) -> {users}")


@users_app.command("remove")
def users_remove(name: str = typer.Argument(..., help="the login name"), users: Path = USERS):
    """Remove a user (their open sessions stop working at the next request)."""
    from tagger.web.users import UserError, Users

    try:
        Users(users).remove(name)
    except UserError as e:
        _fail(str(e))
    typer.echo(f"removed {name}")


@users_app.command("list")
def users_list(users: Path = USERS):
    """List users and roles."""
    from tagger.web.users import Users

    for name, u in sorted(Users(users).load().items()):
        typer.echo(f"{name}\t{u['role']}\t{u.get('created', '')}")
