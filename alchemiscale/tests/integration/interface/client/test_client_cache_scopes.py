"""The client's disk cache, shared by identities on one machine, never serves an object outside the caller's scopes."""

from __future__ import annotations

import pytest

from alchemiscale.base.client import AlchemiscaleClientError
from alchemiscale.interface.client import AlchemiscaleClient
from alchemiscale.security.models import CredentialedUserIdentity
from alchemiscale.tests.integration.identities import make_identity


def test_an_identity_without_the_scope_cannot_read_a_cached_network(
    client, user_api_url, client_cache_dir, n4js, network, user_scope, forbidden_scope, module_org
):
    network_sk = client.create_network(network, user_scope, visualize=False)
    assert client.get_network(network_sk, visualize=False) == network
    assert client._cache_get("network", network_sk) is not None, "the owner's copy is cached"

    outsider_id = f"outsider-{module_org}"
    outsider_key = make_identity(n4js, CredentialedUserIdentity, outsider_id, [str(forbidden_scope)])
    with AlchemiscaleClient(user_api_url, outsider_id, outsider_key, cache_directory=client_cache_dir,
                            max_retries=0) as outsider:
        assert outsider._cache_get("network", network_sk) is None, "before any token"
        with pytest.raises(AlchemiscaleClientError) as caught:
            outsider.get_network(network_sk, visualize=False)
        assert caught.value.status_code in (401, 403), "the server was asked, and refused"
        assert outsider._cache_get("network", network_sk) is None, "with its token"
