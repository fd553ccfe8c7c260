"""Sweep wall time with 1 and 2 Dask workers (issue 6), the same sweep each time.

Run from the repository root::

    python benchmarks/sweep.py [--quick]

Default: 6 points of KT Environment 1's endowment (``types[1].endowment[0] = 1..2``),
segregated exchanges with the Negishi search at every point (192 x 78,150 LPs);
``--quick``: 12 refined SP3 points of ``grids/fgt_discount.toml`` over R_hat. Each run is
``segex sweep ... --workers N`` in a fresh process (cluster start-up included) into a
fresh directory; the two outputs are compared value for value. Peak RSS is the largest
of any process so far (``RUSAGE_CHILDREN``: client, nanny or worker; a maximum over both
runs by the time of the second row).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUNS = {
    "default": ["grids/kt_env1.toml", "--param", "types[1].endowment[0]=1:2:6", "--concept", "segregated"],
    "quick": ["grids/fgt_discount.toml", "--param", "R_hat=1.2:2.2:12", "--concept", "SP3"],
}


def run(args, workers, out) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segex.cli", "sweep", *args, "--out", str(out), "--workers", str(workers)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv) -> None:
    from segex.io.store import read_netcdf

    args = RUNS["quick" if "--quick" in argv else "default"]
    with tempfile.TemporaryDirectory() as d:
        outs, rows = {}, []
        for workers in (1, 2):
            outs[workers] = Path(d) / f"w{workers}.nc"
            seconds = run(args, workers, outs[workers])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
            rows.append((workers, seconds, peak))
        a, b = read_netcdf(outs[1]), read_netcdf(outs[2])
        diff = max(float(np.nanmax(np.abs(a[g][v].values - b[g][v].values), initial=0.0))
                   for g in a if g != "sweep" for v in a[g].data_vars if a[g][v].dtype.kind == "f")
    print(f"`segex sweep {' '.join(args)}`\n")
    print("| workers | wall | peak RSS (any process) |\n|---|---|---|")
    for workers, seconds, peak in rows:
        print(f"| {workers} | {seconds:.1f} s | {peak:.0f} MB |")
    print(f"speed-up {rows[0][1] / rows[1][1]:.2f}x; largest difference between the two outputs: {diff:.1e}")


if __name__ == "__main__":
    main(sys.argv[1:])
