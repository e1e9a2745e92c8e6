"""The one place where modules meet shared logic: loading config and reporting its errors.

Everything else in module_utils/plotfleet is plain logic with no Ansible objects; this file
takes the AnsibleModule so every module fails the same way for the same problem.
"""

from __future__ import annotations


def load_config_or_fail(module, path: str):
    """The validated plotter config, or fail_json naming the file and every problem in it."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError, load_config
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import plotman_archiving_notice

    try:
        config = load_config(path)
    except ConfigError as err:
        module.fail_json(msg=f"load config: {err}", problems=getattr(err, "problems", [str(err)]))
    notice = plotman_archiving_notice(config.archiving)
    if notice:
        module.warn(f"{path}: {notice}")
    return config


NO_PSUTIL = ("inspect plot jobs: the Python module psutil is missing on this host; install python3-psutil "
             "(roles/plotter does) or point ansible_python_interpreter at a Python that has it")


def require_psutil(module) -> None:
    try:
        import psutil  # noqa: F401
    except ImportError:
        module.fail_json(msg=NO_PSUTIL)
