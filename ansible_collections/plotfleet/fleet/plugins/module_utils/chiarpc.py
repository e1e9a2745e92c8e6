"""The local chia harvester's RPC, the way chia's own RPC clients call it, in plain Python.

chia's services serve HTTPS on localhost (the harvester on 8560) and accept a client that shows a
certificate signed by the node's private CA: chia's clients use the service's own private cert and
key from ``$CHIA_ROOT/config/ssl/<service>/``, trust the private CA and skip host name checks.
Reading those keys takes root (or the farm user), which is who runs the verifier.

Farmed means loaded: the harvester loads a plot in its refresh loop (started when its farmer
connects) and then lists it in ``get_plots``. ``refresh_plots`` starts the next refresh at once
instead of at the next periodic scan (``plots_refresh_parameter.interval_seconds``, 120 s).
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any


class RpcError(Exception):
    """The harvester's RPC could not be reached or refused the call; the message says which."""


def harvester_ssl_context(chia_root: str) -> ssl.SSLContext:
    """A client context with the harvester's private cert, trusting the node's private CA."""
    ssl_dir = os.path.join(chia_root, "config", "ssl")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # chia's certs name no host; the private CA is the trust
    try:
        context.load_verify_locations(os.path.join(ssl_dir, "ca", "private_ca.crt"))
        context.load_cert_chain(os.path.join(ssl_dir, "harvester", "private_harvester.crt"),
                                os.path.join(ssl_dir, "harvester", "private_harvester.key"))
    except (OSError, ssl.SSLError) as err:
        raise RpcError(f"cannot load the harvester's RPC certs from {ssl_dir}: {err}") from err
    return context


def call(chia_root: str, port: int, endpoint: str, body: dict | None = None, host: str = "127.0.0.1",
         timeout: float = 10.0, context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """POST one RPC request; its JSON answer. Raises RpcError (unreachable, refused, success false)."""
    context = context or harvester_ssl_context(chia_root)
    request = urllib.request.Request(f"https://{host}:{port}/{endpoint}", data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.URLError as err:
        raise RpcError(f"chia harvester RPC {endpoint} on {host}:{port}: {getattr(err, 'reason', err)}") from err
    except (OSError, ValueError) as err:
        raise RpcError(f"chia harvester RPC {endpoint} on {host}:{port}: {err}") from err
    if not answer.get("success", False):
        raise RpcError(f"chia harvester RPC {endpoint} failed: {answer.get('error', answer)}")
    return answer


def confirm_loaded(chia_root: str, port: int, paths: Iterable[str], wait_seconds: float, host: str = "127.0.0.1",
                   sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> dict[str, tuple[bool, str | None]]:
    """Ask the harvester to refresh, then poll ``get_plots`` until each path is loaded or refused.

    path -> (farmed, why not). Raises RpcError when the harvester cannot be asked at all."""
    wanted = {os.path.normpath(path) for path in paths}
    if not wanted:
        return {}
    context = harvester_ssl_context(chia_root)
    call(chia_root, port, "refresh_plots", host=host, context=context)
    deadline = clock() + wait_seconds
    result: dict[str, tuple[bool, str | None]] = {}
    while True:
        answer = call(chia_root, port, "get_plots", host=host, context=context)
        loaded = {os.path.normpath(plot.get("filename", "")) for plot in answer.get("plots") or []}
        failed = {os.path.normpath(name) for name in answer.get("failed_to_open_filenames") or []}
        no_keys = {os.path.normpath(name) for name in answer.get("not_found_filenames") or []}
        for path in wanted - set(result):
            if path in loaded:
                result[path] = (True, None)
            elif path in failed:
                result[path] = (False, "the chia harvester failed to open it")
            elif path in no_keys:
                result[path] = (False, "the chia harvester does not farm it: its keys are not the farmer's")
        if len(result) == len(wanted) or clock() >= deadline:
            break
        sleep(0.1)
    for path in wanted - set(result):
        result[path] = (False, f"not loaded by the chia harvester within {wait_seconds:g} s "
                               f"(is its dir in harvester.plot_directories, is a farmer connected?)")
    return result
