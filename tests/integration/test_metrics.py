"""status.yml's Prometheus output, served by a real node_exporter's textfile collector over HTTP."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest
from conftest import run_playbook, wait_for

V1_NAME = f"plot-k32-c07-2023-05-01-10-00-{secrets.token_hex(32)}.plot"
V2_NAME = f"plot-k28-{secrets.token_hex(32)}.plot2"


def loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node_exporter(tmp_path):
    """A real prometheus-node-exporter with only the textfile collector, on a loopback port."""
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    assert binary, "prometheus-node-exporter missing: scripts/setup --test installs it"
    textfile_dir = tmp_path / "textfile"
    textfile_dir.mkdir()
    port = loopback_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                             "--collector.textfile", f"--collector.textfile.directory={textfile_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield textfile_dir, f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_status_writes_metrics_that_node_exporter_serves(tmp_path, node_exporter):
    textfile_dir, url = node_exporter
    archive = tmp_path / "archive0"
    archive.mkdir()
    (archive / V1_NAME).write_bytes(b"\0" * 4096)
    (archive / V2_NAME).write_bytes(b"\0" * 1024)
    harvester_config = tmp_path / "harvester.yml"
    harvester_config.write_text(json.dumps({"archive_dirs": [{"path": str(archive), "rsync_module": "disk0"}]}))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {
        "plotters": {"hosts": {}},
        "harvesters": {"hosts": {"localhost": {"ansible_connection": "local",
                                               "ansible_python_interpreter": sys.executable,
                                               "harvester_space_config": str(harvester_config)}}},
    }}}))
    textfile = textfile_dir / "plotfleet.prom"

    run = run_playbook("status.yml", {"output": "prometheus", "plotfleet_output": "prometheus",
                                      "plotfleet_textfile": str(textfile)}, inventory=str(inventory))
    assert run.returncode == 0, run.stdout + run.stderr
    assert not [p for p in textfile_dir.iterdir() if p.name != "plotfleet.prom"], "no temp file left behind"

    served = wait_for(lambda: "plotfleet_archive_plots" in (text := scrape(url)) and text, 30, "node_exporter")
    assert f'plotfleet_archive_plots{{dir="{archive}",host="localhost"}} 2' in served
    assert f'plotfleet_census_plots{{compression="7",dir="{archive}",format="v1",host="localhost",k="32"}} 1' in served
    assert f'plotfleet_census_plots{{compression="0",dir="{archive}",format="v2",host="localhost",k="28"}} 1' in served
    assert 'plotfleet_up{host="localhost",role="harvester"} 1' in served
    # node_exporter reports a textfile it could not parse through this metric: 0 means it read ours.
    assert "node_textfile_scrape_error 0" in served
