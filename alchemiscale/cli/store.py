"""``alchemiscale database`` and ``alchemiscale identity``: commands that talk to Neo4j directly.

Each opens the state store with :func:`open_store`, which turns the store's expected failures into
one line saying what to do: Neo4j unreachable, or an identity that does not exist.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.table import Table

from ..errors import NotFoundError, UnavailableError
from ..models import Scope
from ..settings import Neo4jStoreSettings
from .options import db_options


@contextmanager
def open_store(params: dict[str, Any]) -> Iterator[Any]:
    """The state store named by the ``db_options``; closed afterwards, an outage as one line."""
    from ..storage.statestore import Neo4jStore

    # The driver announces each retry of an unreachable server as a warning; the one line below says it.
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    settings = Neo4jStoreSettings(
        NEO4J_URL=params["neo4j_url"], NEO4J_USER=params["neo4j_user"],
        NEO4J_PASS=params["neo4j_pass"], NEO4J_DBNAME=params["neo4j_dbname"],
    )
    store = Neo4jStore.from_settings(settings)
    try:
        yield store
    except UnavailableError as e:
        raise click.ClickException(
            f"{e}: cannot reach {params['neo4j_url']}; check that Neo4j is running there and that --url, "
            "--user and --password (NEO4J_URL, NEO4J_USER, NEO4J_PASS) are right"
        ) from None
    finally:
        store.close()


@click.group(help="Manage the Neo4j state store.")
def database():
    pass


@database.command(help="Create the constraints and indexes the state store needs.")
@db_options
def init(**params):
    with open_store(params) as store:
        store.initialize()
    click.echo("Database initialized.")


@database.command(help="Check that the database has every constraint and index the state store needs.")
@db_options
def check(**params):
    from ..storage.statestore import Neo4jStoreError

    with open_store(params) as store:
        try:
            store.check()
        except Neo4jStoreError as e:
            raise click.ClickException(f"{e}\nRun `alchemiscale database init` to create what is missing.") from None
    click.echo("No inconsistencies found.")


@database.command(help="Delete EVERYTHING in the database, including identities, and drop its constraints.")
@db_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool, **params):
    if not yes:
        click.confirm(f"Delete all data in {params['neo4j_url']} ({params['neo4j_dbname']})?", abort=True)
    with open_store(params) as store:
        store.reset()
    click.echo("Database reset.")


IDENTITY_TYPES = {"user": "CredentialedUserIdentity", "compute": "CredentialedComputeIdentity"}


def _identity_cls(identity_type: str):
    from ..security import models

    return getattr(models, IDENTITY_TYPES[identity_type])


identity_type_option = click.option("-t", "--identity-type", type=click.Choice(sorted(IDENTITY_TYPES)), default="user",
                                    show_default=True, help="Kind of identity.")
identifier_option = click.option("-i", "--identifier", required=True, help="Identity name.")
scope_option = click.option("-s", "--scope", "scopes", multiple=True, required=True,
                            help="Scope as org-campaign-project ('*' allowed as trailing wildcards); repeatable.")


def _parse_scopes(scopes: tuple[str, ...]) -> list[Scope]:
    try:
        return [Scope.from_str(s) for s in scopes]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--scope") from None


@click.group(help="Manage user and compute identities.")
def identity():
    pass


@identity.command(name="add", help="Add an identity; with --replace, give an existing one a new key.")
@db_options
@identity_type_option
@identifier_option
@click.option("-k", "--key", help="Secret key (prompted for when not given).")
@click.option("--expires", type=click.DateTime(), help="Expiry time (UTC); the identity cannot log in afterwards.")
@click.option("--replace", is_flag=True, help="Replace the key (and expiry) of an existing identity; its scopes stay.")
def identity_add(identity_type, identifier, key, expires, replace, **params):
    from ..security.auth import hash_key

    cls = _identity_cls(identity_type)
    with open_store(params) as store:
        try:
            scopes = [str(s) for s in store.list_scopes(identifier, cls)]
            exists = True
        except NotFoundError:
            scopes, exists = [], False
        if exists and not replace:
            raise click.ClickException(
                f"{identity_type} identity {identifier!r} already exists; pass --replace to give it a new key "
                "(its scopes are kept), or choose another identifier"
            )
        if key is None:
            key = click.prompt("Key", hide_input=True, confirmation_prompt=True)
        store.create_credentialed_entity(
            cls(identifier=identifier, hashed_key=hash_key(key), scopes=scopes, expires=expires)
        )
    if exists:
        kept = f"; kept its scopes {', '.join(scopes)}" if scopes else ""
        click.echo(f"Replaced the key of {identity_type} identity {identifier!r}{kept}.")
    else:
        click.echo(f"Added {identity_type} identity {identifier!r}.")


@identity.command(name="list", help="List identities of one type.")
@db_options
@identity_type_option
def identity_list(identity_type, **params):
    with open_store(params) as store:
        identifiers = store.list_credentialed_entities(_identity_cls(identity_type))
    table = Table(title=f"{identity_type} identities")
    table.add_column("identifier")
    for identifier in sorted(identifiers):
        table.add_row(identifier)
    Console().print(table)


def _with_identity(action: Callable[..., Any], params: dict[str, Any], identity_type: str, identifier: str):
    with open_store(params) as store:
        try:
            return action(store, identifier, _identity_cls(identity_type))
        except NotFoundError:
            raise click.ClickException(
                f"no {identity_type} identity {identifier!r}; see `alchemiscale identity list -t {identity_type}`"
            ) from None


@identity.command(name="remove", help="Remove an identity.")
@db_options
@identity_type_option
@identifier_option
def identity_remove(identity_type, identifier, **params):
    _with_identity(lambda s, i, c: s.remove_credentialed_identity(i, c), params, identity_type, identifier)
    click.echo(f"Removed {identity_type} identity {identifier!r}.")


def _scope_command(name: str, help: str, method: str, done: str) -> click.Command:
    """``identity add-scope`` or ``remove-scope``: the store's ``method`` for each scope, in one session."""

    @identity.command(name=name, help=help)
    @db_options
    @identity_type_option
    @identifier_option
    @scope_option
    def command(identity_type, identifier, scopes, **params):
        parsed = _parse_scopes(scopes)
        _with_identity(lambda s, i, c: [getattr(s, method)(i, c, scope) for scope in parsed],
                       params, identity_type, identifier)
        click.echo(done.format(scopes=", ".join(scopes), identifier=repr(identifier)))

    return command


identity_add_scope = _scope_command("add-scope", "Grant scopes to an identity.", "add_scope",
                                    "Granted {scopes} to {identifier}.")
identity_remove_scope = _scope_command("remove-scope", "Revoke scopes from an identity.", "remove_scope",
                                       "Revoked {scopes} from {identifier}.")


@identity.command(name="list-scope", help="List the scopes of an identity.")
@db_options
@identity_type_option
@identifier_option
def identity_list_scope(identity_type, identifier, **params):
    scopes = _with_identity(lambda s, i, c: s.list_scopes(i, c), params, identity_type, identifier)
    table = Table(title=f"scopes of {identifier}")
    table.add_column("scope")
    for scope in sorted(scopes):
        table.add_row(str(scope))
    Console().print(table)
