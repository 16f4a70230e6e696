"""Result retrieval for the user client: ProtocolDAGResults fetched concurrently, cached, then gathered
(or bundled with their network into a gufe ``AlchemicalArchive``).

The server keeps each ProtocolDAGResult as zstd-compressed keyed-chain bytes and sends them as they
are (``Accept: application/zstd``; upstream's servers send one latin-1 string in JSON instead, which
is still read). Those bytes never change, so they are cached on disk under the ScopedKey of their
ProtocolDAGResultRef and a later call reads them locally. Downloads run concurrently over one
``httpx.AsyncClient``; each result is decoded in a worker thread as soon as it has arrived (zstd
releases the GIL, and decoding overlaps the downloads), and a whole network's results are gathered
Transformation by Transformation, so only the gathered results (not every raw payload) stay in memory.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from ..base.client import AlchemiscaleBaseClient, _accept_encoding, progress_bar
from ..serialization.compression import RESULT_MEDIA_TYPE, deserialize_protocoldagresult, latin1_to_bytes
from ..models import ScopedKey, ScopedKeyLike
from .client_common import as_scoped_keys
from .client_html import NetworkResults

if TYPE_CHECKING:  # pragma: no cover
    from gufe import Transformation
    from gufe.archival import AlchemicalArchive
    from gufe.protocols import ProtocolDAGResult

ResultRoute = Literal["results", "failures"]

# Downloads of result payloads in flight at once; payloads can be large, so fewer than for small requests.
MAX_CONCURRENT_DOWNLOADS = 8


class ResultFormat(StrEnum):
    """What a results method returns for each Transformation."""

    PROTOCOL_RESULT = "ProtocolResult"
    """One ``ProtocolResult`` gathered from all successful ProtocolDAGResults (``None`` if there are none)."""
    PROTOCOL_RESULTS = "ProtocolResults"
    """A list with one ``ProtocolResult`` per ProtocolDAGResult."""
    PROTOCOL_DAG_RESULTS = "ProtocolDAGResults"
    """The ProtocolDAGResults themselves."""


def parse_result_format(
    return_as: Union[ResultFormat, str], return_protocoldagresults: Optional[bool] = None
) -> ResultFormat:
    """The ResultFormat a results method was asked for.

    ``return_protocoldagresults`` is upstream's deprecated spelling: ``True`` means
    ``"ProtocolDAGResults"``, ``False`` leaves ``return_as`` as it is; either warns.
    """
    if return_protocoldagresults is not None:
        warnings.warn(
            "return_protocoldagresults is deprecated; use return_as='ProtocolDAGResults' instead",
            DeprecationWarning,
            stacklevel=3,
        )
        if return_protocoldagresults:
            return_as = ResultFormat.PROTOCOL_DAG_RESULTS
    try:
        return ResultFormat(return_as)
    except ValueError:
        options = ", ".join(repr(f.value) for f in ResultFormat)
        raise ValueError(f"return_as must be one of {options}, got {return_as!r}") from None


def format_results(
    transformation: "Transformation", protocoldagresults: list["ProtocolDAGResult"], return_as: ResultFormat
) -> Any:
    if return_as is ResultFormat.PROTOCOL_DAG_RESULTS:
        return protocoldagresults
    if return_as is ResultFormat.PROTOCOL_RESULTS:
        return [transformation.gather([pdr]) for pdr in protocoldagresults]
    return transformation.gather(protocoldagresults) if protocoldagresults else None


def _sk(value: ScopedKeyLike) -> ScopedKey:
    return ScopedKey.from_str(value)


def archive_metadata(
    metadata: Optional[Sequence[Optional[Mapping]]], networks: list[ScopedKey]
) -> list[Optional[dict]]:
    """One metadata dict (or None) per network, checked before anything is downloaded.

    Each dict must be JSON-encodable by gufe's encoder, as the archive it goes into must be.
    """
    if metadata is None:
        return [None] * len(networks)
    if isinstance(metadata, (Mapping, str, bytes)) or not isinstance(metadata, Sequence):
        raise ValueError("metadata must be a list holding a dict (or None) for each network, or None")
    if len(metadata) != len(networks):
        raise ValueError(f"metadata has {len(metadata)} entries for {len(networks)} networks; give one per network")
    from gufe.tokenization import JSON_HANDLER

    checked: list[Optional[dict]] = []
    for network, meta in zip(networks, metadata):
        if meta is not None:
            if not isinstance(meta, Mapping):
                raise ValueError(f"metadata for {network} must be a dict or None, got {type(meta).__name__}")
            try:
                json.dumps(meta, cls=JSON_HANDLER.encoder)
            except (TypeError, ValueError) as e:
                raise ValueError(f"metadata for {network} cannot be serialized: {e}") from None
            meta = dict(meta)
        checked.append(meta)
    return checked


class ResultsMixin(AlchemiscaleBaseClient):
    """Result methods of :class:`~alchemiscale.interface.client.AlchemiscaleClient`.

    Relies on ``check_exists``, ``get_network``, ``get_network_transformations``,
    ``get_transformation`` and ``get_task_transformation``, which the full client defines.
    """

    # -- public methods ---------------------------------------------------------------------------

    def get_transformation_results(
        self,
        transformation: ScopedKeyLike,
        return_as: Union[ResultFormat, str] = ResultFormat.PROTOCOL_RESULT,
        return_protocoldagresults: Optional[bool] = None,
        compress: bool = True,
        visualize: bool = True,
    ) -> Any:
        """The successful results of a Transformation, in the form ``return_as`` names.

        ``return_protocoldagresults=True`` is the deprecated spelling of
        ``return_as="ProtocolDAGResults"``.
        """
        fmt = parse_result_format(return_as, return_protocoldagresults)
        tf = _sk(transformation)
        pdrs = self._transformation_protocoldagresults(tf, "results", compress, visualize)
        return format_results(self.get_transformation(tf, visualize=False), pdrs, fmt)

    def get_transformation_failures(
        self, transformation: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> list["ProtocolDAGResult"]:
        """The failed ProtocolDAGResults of a Transformation, oldest first."""
        return self._transformation_protocoldagresults(_sk(transformation), "failures", compress, visualize)

    def get_task_results(
        self, task: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> list["ProtocolDAGResult"]:
        """The successful ProtocolDAGResults of one Task."""
        return self._task_protocoldagresults(_sk(task), "results", compress, visualize)

    def get_task_failures(
        self, task: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> list["ProtocolDAGResult"]:
        """The failed ProtocolDAGResults of one Task."""
        return self._task_protocoldagresults(_sk(task), "failures", compress, visualize)

    def get_network_results(
        self,
        network: ScopedKeyLike,
        return_as: Union[ResultFormat, str] = ResultFormat.PROTOCOL_RESULT,
        return_protocoldagresults: Optional[bool] = None,
        compress: bool = True,
        visualize: bool = True,
    ) -> dict[ScopedKey, Any]:
        """``{Transformation ScopedKey: results in the form return_as names}`` for a whole network.

        ``return_protocoldagresults=True`` is the deprecated spelling of
        ``return_as="ProtocolDAGResults"``.
        """
        fmt = parse_result_format(return_as, return_protocoldagresults)
        return self._network_results(_sk(network), "results", fmt, compress, visualize)

    def get_network_failures(
        self, network: ScopedKeyLike, compress: bool = True, visualize: bool = True
    ) -> dict[ScopedKey, list["ProtocolDAGResult"]]:
        """``{Transformation ScopedKey: failed ProtocolDAGResults}`` for a whole network."""
        return self._network_results(
            _sk(network), "failures", ResultFormat.PROTOCOL_DAG_RESULTS, compress, visualize
        )

    def get_network_archive(
        self,
        network: ScopedKeyLike,
        metadata: Optional[Mapping] = None,
        compress: bool = True,
        visualize: bool = True,
    ) -> Optional["AlchemicalArchive"]:
        """A network with the successful ProtocolDAGResults of each of its Transformations, as a gufe
        ``AlchemicalArchive`` for long-term storage and sharing; ``None`` if there is no such network.

        ``metadata`` is a dict stored with the archive (anything gufe's JSON encoder can write).
        """
        return self.get_network_archives(
            [network], metadata=None if metadata is None else [metadata], compress=compress, visualize=visualize
        )[0]

    def get_network_archives(
        self,
        networks: Sequence[ScopedKeyLike],
        metadata: Optional[Sequence[Optional[Mapping]]] = None,
        compress: bool = True,
        visualize: bool = True,
    ) -> list[Optional["AlchemicalArchive"]]:
        """:meth:`get_network_archive` for each of ``networks`` (no duplicates), in their order.

        ``metadata`` holds a dict or ``None`` per network; it is checked before anything is downloaded.
        """
        keys = as_scoped_keys(networks)
        if len(set(keys)) != len(keys):
            raise ValueError("networks must not contain duplicate entries")
        per_network = archive_metadata(metadata, keys)
        return [self._network_archive(key, meta, compress, visualize) for key, meta in zip(keys, per_network)]

    # -- implementation ---------------------------------------------------------------------------

    def _network_archive(
        self, network: ScopedKey, metadata: Optional[dict], compress: bool, visualize: bool
    ) -> Optional["AlchemicalArchive"]:
        from gufe.archival import AlchemicalArchive

        if not self.check_exists(network):
            return None
        alchemical_network = self.get_network(network, compress=compress, visualize=visualize)
        results = self._network_results(network, "results", ResultFormat.PROTOCOL_DAG_RESULTS, compress, visualize)
        # paired through the server's ScopedKeys: a key computed locally (another gufe version) may differ
        entries = [
            (self.get_transformation(tf, compress=compress, visualize=False), pdrs) for tf, pdrs in results.items()
        ]
        return AlchemicalArchive(alchemical_network, entries, metadata=metadata)

    def _transformation_protocoldagresults(
        self, transformation: ScopedKey, route: ResultRoute, compress: bool, visualize: bool
    ) -> list["ProtocolDAGResult"]:
        refs = self._query_resource(f"/transformations/{transformation}/{route}")
        return self._fetch_protocoldagresults(transformation, refs, route, compress, visualize)

    def _task_protocoldagresults(
        self, task: ScopedKey, route: ResultRoute, compress: bool, visualize: bool
    ) -> list["ProtocolDAGResult"]:
        transformation = self.get_task_transformation(task)
        refs = self._query_resource(f"/tasks/{task}/{route}")
        return self._fetch_protocoldagresults(transformation, refs, route, compress, visualize)

    def _fetch_protocoldagresults(
        self,
        transformation: ScopedKey,
        refs: Sequence[ScopedKey],
        route: ResultRoute,
        compress: bool,
        visualize: bool,
    ) -> list["ProtocolDAGResult"]:
        async def fetch_all() -> list["ProtocolDAGResult"]:
            slots = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)
            with progress_bar(f"Retrieving {route}", total=len(refs), visualize=visualize) as bar:
                async with self._async_session():

                    async def fetch(ref: ScopedKey) -> "ProtocolDAGResult":
                        pdr = await self._protocoldagresult_async(transformation, ref, route, compress, slots)
                        bar.advance()
                        return pdr

                    return list(await asyncio.gather(*(fetch(ref) for ref in refs)))

        return self._run_async(fetch_all()) if refs else []

    def _network_results(
        self, network: ScopedKey, route: ResultRoute, return_as: ResultFormat, compress: bool, visualize: bool
    ) -> dict[ScopedKey, Any]:
        transformations = self.get_network_transformations(network)
        local = {str(tf.key): tf for tf in self.get_network(network, visualize=False).edges}

        def transformation_object(sk: ScopedKey) -> "Transformation":
            # keys computed locally can differ from the server's (other gufe version): then ask the server
            return local.get(sk.gufe_key) or self.get_transformation(sk, visualize=False)

        async def fetch_all() -> dict[ScopedKey, Any]:
            slots = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)
            results: dict[ScopedKey, Any] = {}
            with progress_bar(f"Retrieving {route}", total=len(transformations), visualize=visualize) as bar:
                async with self._async_session():

                    async def fetch(tf: ScopedKey) -> None:
                        refs = await self._get_resource_async(f"/transformations/{tf}/{route}")
                        pdrs = await asyncio.gather(
                            *(self._protocoldagresult_async(tf, _sk(ref), route, compress, slots) for ref in refs)
                        )
                        results[tf] = format_results(transformation_object(tf), pdrs, return_as)
                        bar.advance()

                    await asyncio.gather(*(fetch(tf) for tf in transformations))
            return NetworkResults({tf: results[tf] for tf in transformations},
                                  {tf: transformation_object(tf).name for tf in transformations})

        return self._run_async(fetch_all())

    async def _protocoldagresult_async(
        self,
        transformation: ScopedKey,
        ref: ScopedKey,
        route: ResultRoute,
        compress: bool,
        slots: asyncio.Semaphore,
    ) -> "ProtocolDAGResult":
        """One ProtocolDAGResult, decoded in a worker thread while other downloads go on."""
        data = await self._result_bytes_async(transformation, ref, route, compress, slots)
        return await asyncio.to_thread(deserialize_protocoldagresult, data)

    async def _result_bytes_async(
        self,
        transformation: ScopedKey,
        ref: ScopedKey,
        route: ResultRoute,
        compress: bool,
        slots: asyncio.Semaphore,
    ) -> bytes:
        """The stored bytes of one ProtocolDAGResult: from the local cache, else downloaded and cached."""
        cached = self._cache_get("result", ref)
        if cached is not None:
            return cached
        # zstd bytes do not shrink under gzip; only the JSON form of an upstream server would
        headers = {"Accept": f"{RESULT_MEDIA_TYPE}, application/json;q=0.5", **_accept_encoding(compress)}
        async with slots:
            response = await self._request_async(
                "GET", f"/transformations/{transformation}/{route}/{ref}", headers=headers
            )
        if response.headers.get("content-type", "").startswith(RESULT_MEDIA_TYPE):
            data = response.content
        else:
            payload = response.json()
            if not isinstance(payload, list) or len(payload) != 1:
                raise ValueError(f"unexpected result payload for {ref}: expected a list holding one string")
            data = latin1_to_bytes(payload[0])
        self._cache_set("result", ref, data)
        return data
