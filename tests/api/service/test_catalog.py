"""The in-memory catalog: a reload from the database never undoes this process's newer changes."""

from __future__ import annotations

from api.service.catalog import Catalog
from domain import ModelSpec, PolicyConfig, PolicyRecord


def _policy(revision: int, *models: str) -> PolicyRecord:
    return PolicyRecord("p", revision, PolicyConfig(models=models), 0.0, 0.0)


def test_a_reload_keeps_changes_made_after_its_read_began() -> None:
    catalog = Catalog()
    catalog.set_model(ModelSpec("old", 1.0, 1.0))
    since = catalog.writes()  # a reload starts reading here ...
    catalog.set_model(ModelSpec("new", 1.0, 1.0))  # ... and misses this put
    catalog.set_policy(_policy(2, "old", "new"))
    read_models = {"old": ModelSpec("old", 1.0, 1.0)}
    read_policies = {"p": _policy(1, "old")}
    catalog.replace(read_models, read_policies, since=since)
    assert set(catalog.models) == {"old", "new"}
    assert catalog.policy("p").revision == 2


def test_a_reload_takes_what_the_database_has_that_is_newer() -> None:
    catalog = Catalog()
    catalog.set_model(ModelSpec("m", 1.0, 1.0))
    catalog.set_policy(_policy(2, "m"))
    since = catalog.writes()  # both changes were committed before the read began
    # Meanwhile another process changed the price and made revision 3.
    catalog.replace({"m": ModelSpec("m", 2.0, 2.0)}, {"p": _policy(3, "m")}, since=since)
    assert catalog.model("m").input_usd_per_mtok == 2.0
    assert catalog.policy("p").revision == 3
    # A local change older than a newer revision read from the database does not win either.
    since = catalog.writes()
    catalog.set_policy(_policy(3, "m"))
    catalog.replace({"m": ModelSpec("m", 2.0, 2.0)}, {"p": _policy(4, "m")}, since=since)
    assert catalog.policy("p").revision == 4
