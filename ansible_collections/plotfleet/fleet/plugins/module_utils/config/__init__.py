"""The plotter configuration: one YAML file per plotter, read by every plotfleet module.

``load_config(path)`` reads and checks the file; ``parse_config(data)`` checks an already parsed
document. Both return a ``Config`` (frozen dataclasses, defaults filled in) or raise one
``ConfigError`` whose ``problems`` list every problem found, each naming its key path.

The schema is plotman's (0.5.x, ``version: [2]``), so an existing plotman.yaml loads unchanged,
plus plotfleet's optional keys; docs/plotfleet.example.yml describes every key.
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.plotfleet.fleet.plugins.module_utils.checks import parse_size, show
from ansible_collections.plotfleet.fleet.plugins.module_utils.config.model import (
    DEFAULT_CONFIG_PATH,
    ArchivingConfig,
    ArchivingTarget,
    BladebitOptions,
    ChiaOptions,
    ChiaV2Options,
    Commands,
    Config,
    ConfigError,
    Directories,
    InteractiveCommands,
    LoggingConfig,
    MadmaxOptions,
    PlotmanArchiving,
    PlottingConfig,
    SchedulingConfig,
    TmpOverrides,
    TmpScheduling,
    UserInterface,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.config.schema import read_config

try:
    import yaml
except ImportError:  # the module then fails with a message instead of a traceback
    yaml = None

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ArchivingConfig",
    "ArchivingTarget",
    "BladebitOptions",
    "ChiaOptions",
    "ChiaV2Options",
    "Commands",
    "Config",
    "ConfigError",
    "Directories",
    "InteractiveCommands",
    "LoggingConfig",
    "MadmaxOptions",
    "PlotmanArchiving",
    "PlottingConfig",
    "SchedulingConfig",
    "TmpOverrides",
    "TmpScheduling",
    "UserInterface",
    "load_config",
    "parse_config",
    "parse_size",
]


def load_config(path: str = DEFAULT_CONFIG_PATH) -> Config:
    """Read, parse and check the config file at ``path`` (``~`` expanded)."""
    path = os.path.expanduser(path)
    if yaml is None:
        raise ConfigError(
            [
                "cannot read the config: PyYAML is not installed for this Python; install python3-yaml "
                "(or pip install PyYAML) on this host"
            ],
            path,
        )
    document, duplicates = _load_yaml(_read_text(path), path)
    return _checked(document, path, duplicates)


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Check an already parsed config document (what yaml.safe_load returns)."""
    return _checked(data, source, [])


def _checked(document: Any, source: str, problems: list[str]) -> Config:
    config = read_config(document, source, problems)
    if problems:
        raise ConfigError(problems, source)
    return config


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except FileNotFoundError:
        reason = (
            "no such file; create it (roles/plotter renders it from inventory variables) "
            "or point the module's config parameter at the right file"
        )
    except IsADirectoryError:
        reason = "it is a directory; config must name the YAML file itself"
    except PermissionError:
        reason = f"permission denied for user id {os.geteuid()}; run with become or make it readable"
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 text (byte {error.start})"
    except OSError as error:
        reason = error.strerror or str(error)
    raise ConfigError([f"cannot read the config file: {reason}"], path)


def _load_yaml(text: str, path: str) -> tuple[Any, list[str]]:
    """The document and the keys it gives twice (reported with the other problems)."""
    loader = _DuplicateKeyLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        raise ConfigError([_yaml_problem(error)], path) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"invalid YAML: {error}"], path) from None
    finally:
        loader.dispose()
    return document, loader.duplicates


def _yaml_problem(error: Any) -> str:
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    context = f" ({error.context})" if error.context else ""
    return f"invalid YAML{where}: {error.problem}{context}"


if yaml is not None:

    class _DuplicateKeyLoader(yaml.SafeLoader):
        """safe_load's loader, except that a key given twice in one mapping is reported.

        Plain YAML keeps the last value silently, which hides a second ``tmp:`` or ``dst:``.
        """

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.duplicates: list[str] = []

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            first_line: dict[str, int] = {}
            for key_node, _ in node.value:
                # Merge keys (<<) legitimately repeat keys; only plain scalar keys are compared.
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in first_line:
                    self.duplicates.append(
                        f"line {line}: key {show(key_node.value)} is given twice in one mapping "
                        f"(first on line {first_line[key_node.value]}); YAML would keep only the last"
                    )
                first_line.setdefault(key_node.value, line)
            return super().construct_mapping(node, deep=deep)
