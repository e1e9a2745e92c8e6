"""Make one real plot for a farm's keys with chia's own code (run by .venv-chia's Python).

    make_farm_plot.py v1|v2 <dir> <k> <farmer pk hex> <pool pk hex>

v1: chiapos through ``chia.plotting.create_plots.create_plots`` (no k >= 25 limit, unlike the CLI);
v2: chia_rs through ``create_v2_plots``. Prints the plot's path. A chia harvester whose farmer
holds these keys loads the plot.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace

from chia.plotting.create_plots import PlotKeys, create_plots, create_v2_plots
from chia_rs import G1Element


def main() -> None:
    kind, out, k, farmer, pool = sys.argv[1:6]
    keys = PlotKeys(G1Element.from_bytes(bytes.fromhex(farmer)), G1Element.from_bytes(bytes.fromhex(pool)), None)
    final = Path(out)
    if kind == "v1":
        args = SimpleNamespace(size=int(k), num=1, buffer=200, num_threads=2, buckets=16, stripe_size=4096,
                               tmp_dir=final / ".tmp", tmp2_dir=None, final_dir=final, plotid=None, memo=None,
                               nobitfield=False)
        created, _ = asyncio.run(create_plots(args, keys))
    else:
        created, _ = asyncio.run(create_v2_plots(final, keys, size=int(k)))
    for path in created.values():
        print(path)


if __name__ == "__main__":
    main()
