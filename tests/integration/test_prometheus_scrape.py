"""status.yml's Prometheus output, served by a real node_exporter's textfile collector over HTTP,
scraped by a real Prometheus server, and every panel of the shipped Grafana dashboard answered."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import run_playbook, wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "plotfleet.json"
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


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus server on loopback; call it with the node_exporter address to scrape."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: scripts/setup --test installs Debian's prometheus package"
    started: list[subprocess.Popen] = []

    def start(target: str) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                      "scrape_configs": [{"job_name": "node",
                                                          "static_configs": [{"targets": [target]}]}]}))
        port = loopback_port()
        started.append(subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                         f"--web.listen-address=127.0.0.1:{port}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def query(server: str, expr: str) -> list:
    url = f"{server}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError):
        return []
    return answer.get("data", {}).get("result", []) if answer.get("status") == "success" else []


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_status_writes_metrics_that_node_exporter_serves_and_prometheus_answers_every_panel(
        tmp_path, node_exporter, prometheus, plot_dirs, jobs):
    textfile_dir, url = node_exporter
    job = jobs.start(plot_dirs.tmp[0], plot_dirs.dst[0], plot_dirs.logs / "job.log")
    archive = tmp_path / "archive0"
    archive.mkdir()
    (archive / V1_NAME).write_bytes(b"\0" * 4096)
    (archive / V2_NAME).write_bytes(b"\0" * 1024)
    harvester_config = tmp_path / "harvester.yml"
    harvester_config.write_text(json.dumps({"archive_dirs": [{"path": str(archive), "rsync_module": "disk0"}]}))
    inventory = tmp_path / "inventory.yml"
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "harvester_space_config": str(harvester_config), "plotter_config_path": str(plot_dirs.config)}
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": localhost}, "children": {
        "plotters": {"hosts": {"localhost": {}}}, "harvesters": {"hosts": {"localhost": {}}}}}}))
    textfile = textfile_dir / "plotfleet.prom"

    run = run_playbook("status.yml", {"plotfleet_output": "prometheus",
                                      "plotfleet_textfile": str(textfile)}, inventory=str(inventory))
    assert run.returncode == 0, run.stdout + run.stderr
    assert not [p for p in textfile_dir.iterdir() if p.name != "plotfleet.prom"], "no temp file left behind"

    served = wait_for(lambda: "plotfleet_archive_plots" in (text := scrape(url)) and text, 30, "node_exporter")
    assert f'plotfleet_archive_plots{{dir="{archive}",host="localhost"}} 2' in served
    assert f'plotfleet_census_plots{{compression="7",dir="{archive}",format="v1",host="localhost",k="32"}} 1' in served
    assert f'plotfleet_census_plots{{compression="0",dir="{archive}",format="v2",host="localhost",k="28"}} 1' in served
    assert 'plotfleet_up{host="localhost",role="harvester"} 1' in served
    assert 'plotfleet_up{host="localhost",role="plotter"} 1' in served
    assert f'plotfleet_dir_free_bytes{{dir="{plot_dirs.tmp[0]}",host="localhost",kind="tmp"}}' in served
    assert 'plotfleet_jobs{host="localhost",phase=' in served and job.proc.poll() is None
    # node_exporter reports a textfile it could not parse through this metric: 0 means it read ours.
    assert "node_textfile_scrape_error 0" in served

    # A real Prometheus scrapes node_exporter; every query of the Grafana dashboard returns data.
    server = prometheus(url.split("//", 1)[1].split("/", 1)[0])
    wait_for(lambda: query(server, "plotfleet_archive_plots"), 60, "Prometheus to scrape the plotfleet metrics")
    wait_for(lambda: len(query(server, "count_over_time(plotfleet_up[1m])")) and
             query(server, "count_over_time(plotfleet_up[1m])")[0]["value"][1] != "1", 30, "a second scrape")
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 10
    empty = [(panel["title"], target["expr"]) for panel in panels for target in panel["targets"]
             if not query(server, target["expr"])]
    assert not empty, f"panels whose query returns no data: {empty}"
