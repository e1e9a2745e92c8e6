"""The one place where modules meet shared logic: loading config and reporting its errors.

Everything else in module_utils/plotfleet is plain logic with no Ansible objects; this file
takes the AnsibleModule so every module fails the same way for the same problem. hostread.py, which
reports a role it cannot read instead of failing, says it with the same pieces (config_and_notices,
config_failure, psutil_missing).
"""

from __future__ import annotations

NO_PSUTIL = ("inspect plot jobs: the Python module psutil is missing on this host; install python3-psutil "
             "(roles/plotter does) or point ansible_python_interpreter at a Python that has it")


def config_and_notices(path: str):
    """(the validated plotter config, what the operator should be told about it); ConfigError if the
    file cannot be used."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import load_config
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import plotman_archiving_notice

    config = load_config(path)
    notice = plotman_archiving_notice(config.archiving)
    return config, [f"{path}: {notice}"] if notice else []


def config_failure(err: Exception) -> dict:
    """How a config that cannot be used is said: ``msg`` and every problem in it."""
    return {"msg": f"load config: {err}", "problems": getattr(err, "problems", [str(err)])}


def load_config_or_fail(module, path: str):
    """The validated plotter config, or fail_json naming the file and every problem in it."""
    from ansible_collections.plotfleet.fleet.plugins.module_utils.config import ConfigError

    try:
        config, notices = config_and_notices(path)
    except ConfigError as err:
        module.fail_json(**config_failure(err))
    for notice in notices:
        module.warn(notice)
    return config


def psutil_missing() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return True
    return False


def require_psutil(module) -> None:
    if psutil_missing():
        module.fail_json(msg=NO_PSUTIL)
