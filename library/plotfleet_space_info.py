#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plotfleet_space_info
short_description: Report the free space, plots and incoming transfers of a harvester's archive dirs
description:
  - Reads the archive dirs of a harvester from the file written by the C(harvester) role
    (or from O(archive_dirs)) and reports, for each dir, the rsync module serving it, its free,
    total and used bytes, the complete C(*.plot) files in it and the plots still arriving.
  - Plots are v1 C(*.plot) files (uncompressed, Bladebit C(-c05), Gigahorse C(-c8)) and v2
    C(*.plot2) files. Each dir comes with its census (plots and bytes by format, k and compression
    level, and how many of each arrived recently, by mtime) for the replot progress.
  - Plots arriving are recognised by the names rsync and the plotters write before the final
    rename (C(.<name>.plot.XXXXXX), files in C(.rsync-partial) and the other configured
    incoming subdirs, C(<name>.plot.tmp), C(<name>.plot.2.tmp), C(<name>.plot2.tmp)), and each
    is sized by its own kind (a C7 plot in flight needs room for a C7 plot).
  - One pass over each dir (one C(stat) per entry), so a dir of 100,000 plots is read in well
    under a second. The list of plot names, which would be most of the result's size on a full
    disk, comes only with O(plot_names=true).
  - The device number of each dir lets a planner see that two dirs share one disk; the host
    totals count each device once.
  - A dir that is missing or unreadable is reported with its RV(archive_dirs[].error) and a
    warning, so one failed disk never hides the others. Only a bad config fails the module.
  - Read-only; safe to run as often as wanted.
version_added: "0.1.0"
options:
  config:
    description:
      - Path of the harvester configuration written by the C(harvester) role.
      - Ignored when O(archive_dirs) is given.
    type: path
    default: /etc/plotfleet/harvester.yml
  archive_dirs:
    description:
      - The archive dirs to report, instead of those in O(config).
    type: list
    elements: dict
    suboptions:
      path:
        description:
          - Absolute path of the archive dir.
        type: path
        required: true
      rsync_module:
        description:
          - Name of the rsync daemon module serving the dir, reported as given.
        type: str
      max_connections:
        description:
          - The module's limit of simultaneous transfers, reported as given.
        type: int
      mount:
        description:
          - The dir must be a mount point (a disk of its own); when it is not, it is reported with an
            RV(archive_dirs[].error) saying C(not mounted?) and archive planning sends nothing there.
            A missing dir is reported the same way whatever this says. C(roles/harvester) writes it
            for every dir (default true).
        type: bool
        default: false
  replace_rules:
    description:
      - The operator's replace rules (C(plotfleet_replace_rules), see C(plotfleet_replace)); with
        them, each dir reports RV(archive_dirs[].replaceable). A bad rule fails the module naming it.
    type: list
    elements: dict
    default: []
  replot_target:
    description:
      - The replot target format (C(plotfleet_replot_target)); its plots are never replaceable.
    type: str
    choices: [v1, v2]
    default: v2
  replace_order:
    description:
      - The order replaceable plots go in (C(plotfleet_replace_order)), keys from C(format),
        C(compression), C(k), C(age), C(size); default C(format, compression, k, age).
    type: list
    elements: str
  replace_max_per_run:
    description:
      - The most plots deleted on this harvester per archive run (C(plotfleet_replace_max_per_run));
        reported in RV(replace) for the planner, and no more candidates than that are listed.
    type: int
  plot_names:
    description:
      - Whether to return the name of every complete plot (RV(archive_dirs[].plot_names)), which
        the archive planner uses to see a plot already on a harvester (C(archive.yml) asks for it).
      - With 100,000 plots that list is some 11 MB of the result; the census and counts do not
        need it.
    type: bool
    default: false
  arrival_window_hours:
    description:
      - Complete plots whose mtime is this recent count as recent arrivals in the census
        (RV(archive_dirs[].census)), from which the replot rate is measured.
    type: int
    default: 24
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
author:
  - plotfleet developers
"""

EXAMPLES = r"""
- name: Space in every archive dir of the harvesters
  plotfleet_space_info:
  register: harvester_space

- name: Space in two dirs, without the role's config
  plotfleet_space_info:
    archive_dirs:
      - path: /mnt/hdd01
        rsync_module: plots-hdd01
      - path: /mnt/hdd02

# Ad hoc, across the fleet:
#   ansible harvesters -m plotfleet_space_info
"""

RETURN = r"""
archive_dirs:
  description: One entry per archive dir, in config order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The archive dir.
      type: str
      sample: /mnt/hdd01
    rsync_module:
      description: The rsync daemon module writing into the dir; null when none is configured.
      type: str
      sample: plots-hdd01
    max_connections:
      description: The rsync module's limit of simultaneous transfers; null when not configured.
      type: int
      sample: 1
    error:
      description: Why the dir could not be read (missing, not a dir, permission); null when it was read.
      type: str
      sample: null
    device:
      description: The dir's device number (C(st_dev)); dirs with the same value share one disk.
      type: int
      sample: 2097
    mount_point:
      description: The mount point holding the dir.
      type: str
      sample: /mnt/hdd01
    free_bytes:
      description: Bytes an unprivileged writer (rsync) can still write.
      type: int
      sample: 6917529027641
    total_bytes:
      description: Size of the filesystem.
      type: int
      sample: 17592186044416
    used_bytes:
      description: RV(archive_dirs[].total_bytes) minus RV(archive_dirs[].free_bytes).
      type: int
      sample: 10674656016775
    plots:
      description: Number of complete C(*.plot) files directly in the dir.
      type: int
      sample: 98
    plot_bytes:
      description: Total size of those plots.
      type: int
      sample: 10674656016775
    plot_names:
      description:
        - Names of the complete plots, oldest first; null when O(plot_names=false).
      type: list
      elements: str
      sample: [plot-k32-2024-05-01-10-11-ce02945384...e9b7c4.plot]
    census:
      description:
        - What the dir's plots are made of, for the replot progress.
        - RV(archive_dirs[].census.kinds) has one entry per kind (format, k, compression level and
          family), plus C(unknown) for plots whose names are not standard.
      type: dict
      contains:
        window_seconds:
          description: The arrival window (O(arrival_window_hours)).
          type: int
          sample: 86400
        since:
          description: Start of the window (epoch seconds); plots with a newer mtime are recent.
          type: float
          sample: 1767225600.0
        kinds:
          description:
            - Per kind, C(kind) (C(v1-k32), C(v1-k32-c7-bladebit), C(v1-k32-c8-gigahorse),
              C(v2-k28), C(unknown)), C(format) (C(v1), C(v2), null), C(k), C(compression),
              C(family) (C(bladebit), C(gigahorse), null), C(plots), C(bytes), C(recent_plots),
              C(recent_bytes) (arrived in the window) and C(newest_mtime).
          type: list
          elements: dict
          sample:
            - {kind: v1-k32, format: v1, k: 32, compression: 0, family: null, plots: 98,
               bytes: 10674656016775, recent_plots: 0, recent_bytes: 0, newest_mtime: 1714558260.0}
    plots_by_k:
      description:
        - Number of complete plots by k size (keys are strings).
        - Plots with non-standard names are not counted here.
      type: dict
      sample: {"32": 98}
    incoming:
      description: Plots being received, by name.
      type: list
      elements: dict
      contains:
        name:
          description: The file's name, relative to the archive dir.
          type: str
          sample: .plot-k32-2024-05-01-10-11-ce02945384...e9b7c4.plot.Xb3kQz
        final_name:
          description: The name the plot will have when complete.
          type: str
          sample: plot-k32-2024-05-01-10-11-ce02945384...e9b7c4.plot
        size_bytes:
          description: Bytes received so far.
          type: int
          sample: 53687091200
        kind:
          description:
            - C(rsync-temp) (rsync's temporary name), C(rsync-partial) (kept in a partial dir)
              or C(plotter-temp) (a plotter writing in place).
          type: str
          sample: rsync-temp
        k:
          description: The plot's k size from its name; null when the name is not standard.
          type: int
          sample: 32
        plot_kind:
          description: The plot's kind from its name (as in the census); null when not standard.
          type: str
          sample: v1-k32
        plot_format:
          description: C(v1) or C(v2); null when the name is not standard.
          type: str
          sample: v1
        expected_bytes:
          description: An upper bound of the complete plot's size, by its kind.
          type: int
          sample: 108877420954
    incoming_bytes:
      description: Bytes received so far by all incoming plots.
      type: int
      sample: 53687091200
    reservation:
      description:
        - The room held for one incoming plot after replaceable plots were deleted for it
          (C(plotfleet_replace)); null when none. C(arrived) says the plot is in the dir now.
      type: dict
      sample: {"plot": "plot-k28-3f2a...e9.plot2", "size_bytes": 988454028, "plotter": "plotter01",
               "deleted": [{"name": "plot-k32-2022-....plot", "size_bytes": 108837532834}], "arrived": false}
    replaceable:
      description:
        - With O(replace_rules), the plots the rules let go in this dir, least valuable first
          (C(candidates), as many as one arrival can need, each with name, size_bytes, kind, rule),
          and their totals (C(plots), C(bytes)); null without rules.
      type: dict
      sample: {"plots": 120, "bytes": 13060503940080, "truncated": true,
               "candidates": [{"name": "plot-k32-2022-....plot", "size_bytes": 108837532834, "kind": "v1 k32",
                               "rule": "v1 below C7"}]}
    free_after_incoming_bytes:
      description: Free bytes left once every incoming plot is complete.
      type: int
      sample: 6862338697887
    quarantined:
      description:
        - Plots that failed verification after landing (C(plotfleet_verify), the rsync hook), moved
          to the dir's C(.plotfleet-quarantine) on the same disk and never counted as plots.
        - Each with name, path, size_bytes, problems and quarantined_at.
      type: list
      elements: dict
      sample: [{"name": "plot-k28-ab...cd.plot2",
                "path": "/mnt/hdd01/.plotfleet-quarantine/plot-k28-ab...cd.plot2.quarantined",
                "size_bytes": 494227014, "problems": ["size 494227014 bytes is outside ..."],
                "quarantined_at": "2026-12-02T13:40:12+0000"}]
host:
  description: Totals over the host's archive dirs; space counts each device once.
  returned: always
  type: dict
  contains:
    quarantined:
      description: Quarantined plots in all dirs.
      type: int
      sample: 0
    dirs:
      description: Number of archive dirs.
      type: int
      sample: 2
    dirs_with_errors:
      description: Number of archive dirs that could not be read.
      type: int
      sample: 0
    devices:
      description: Number of distinct devices holding the readable dirs.
      type: int
      sample: 2
    free_bytes:
      description: Free bytes over distinct devices.
      type: int
      sample: 6917529027641
    total_bytes:
      description: Size over distinct devices.
      type: int
      sample: 35184372088832
    used_bytes:
      description: Used bytes over distinct devices.
      type: int
      sample: 28266843061191
    plots:
      description: Complete plots in all dirs.
      type: int
      sample: 196
    plot_bytes:
      description: Size of the complete plots in all dirs.
      type: int
      sample: 21349312033550
    incoming:
      description: Plots being received in all dirs.
      type: int
      sample: 1
    incoming_bytes:
      description: Bytes received so far by all incoming plots.
      type: int
      sample: 53687091200
    census:
      description: The dirs' censuses added up per kind (same keys as RV(archive_dirs[].census)).
      type: dict
      sample: {window_seconds: 86400, since: 1767225600.0, kinds: []}
replace:
  description: The replace settings in force (target, order, max_per_run, rule names); null without rules.
  returned: always
  type: dict
  sample: {"target": "v2", "order": ["format", "compression", "k", "age"], "max_per_run": 4, "rules": ["v1"]}
rsync_port:
  description: The port of the harvester's rsync daemon from the config; null when unknown.
  returned: always
  type: int
  sample: 873
rsync_version:
  description:
    - The version of the rsync the harvester's daemon runs (the config's C(rsync.bin), else the one on PATH);
      null when it cannot be run. archive.yml passes it to the plotters, whose transfers take the flush
      route when it is older than 3.2.4 (no C(--fsync)).
  returned: always
  type: str
  sample: "3.2.7"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.plotfleet.fleet.plugins.module_utils import bytecode_cache  # noqa: F401 - first: what follows is compiled once per host
from ansible_collections.plotfleet.fleet.plugins.module_utils.harvester import (
    HarvesterConfig,
    parse_archive_dirs,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.hostread import (
    RoleUnreadable,
    harvester_config,
    harvester_report,
)
from ansible_collections.plotfleet.fleet.plugins.module_utils.replace import (
    ReplaceConfig,
    ReplaceConfigError,
    parse_replace_config,
)


def config_from_params(module: AnsibleModule) -> HarvesterConfig:
    """The archive dirs to report: the parameter when given, else the role's config file."""
    if module.params["archive_dirs"] is not None:
        problems: list[str] = []
        dirs = parse_archive_dirs(module.params["archive_dirs"], problems)
        if problems:
            module.fail_json(msg=f"check archive_dirs: {'; '.join(problems)}", problems=problems)
        return HarvesterConfig(tuple(dirs))
    try:
        return harvester_config(module.params["config"])
    except RoleUnreadable as err:
        module.fail_json(msg=str(err), problems=err.problems)


def replace_config_from_params(module: AnsibleModule) -> ReplaceConfig | None:
    """The operator's replace rules, checked; None when there are none."""
    params = module.params
    try:
        config = parse_replace_config(params["replace_rules"], params["replot_target"], params["replace_order"],
                                      params["replace_max_per_run"],
                                      names={"rules": "replace_rules", "target": "replot_target",
                                             "order": "replace_order", "max_per_run": "replace_max_per_run"})
    except ReplaceConfigError as err:
        module.fail_json(msg=f"check the replace rules: {err}", problems=err.problems)
    return config if config.rules else None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config": {"type": "path", "default": "/etc/plotfleet/harvester.yml"},
            "archive_dirs": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "path": {"type": "path", "required": True},
                    "rsync_module": {"type": "str"},
                    "max_connections": {"type": "int"},
                    "mount": {"type": "bool", "default": False},
                },
            },
            "replace_rules": {"type": "list", "elements": "dict", "default": []},
            "replot_target": {"type": "str", "choices": ["v1", "v2"], "default": "v2"},
            "replace_order": {"type": "list", "elements": "str"},
            "replace_max_per_run": {"type": "int"},
            "plot_names": {"type": "bool", "default": False},
            "arrival_window_hours": {"type": "int", "default": 24},
        },
        supports_check_mode=True,
    )
    window_hours = module.params["arrival_window_hours"]
    if window_hours < 1:
        module.fail_json(msg=f"check arrival_window_hours: must be at least 1, got {window_hours}")
    config = config_from_params(module)
    replace = replace_config_from_params(module)
    info, warnings = harvester_report(config, replace, module.params["plot_names"], window_hours * 3600)
    for line in warnings:
        module.warn(line)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
