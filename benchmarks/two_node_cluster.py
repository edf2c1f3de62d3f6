"""Run a command against a throwaway Ray cluster of N one-CPU nodes on this machine (RAY_ADDRESS set for it):
how docs/distributed.md measures the Ray executor on one machine.

    python benchmarks/two_node_cluster.py [--nodes 2] -- python -m core benchmark --executor ray --lambdas 0,0.01,0.1,1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray.cluster_utils import Cluster  # after the usage-stats switch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2, help="one-CPU nodes to start (default: 2)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        status = subprocess.run(command, env={**os.environ, "RAY_ADDRESS": cluster.address}, check=False).returncode
    finally:
        cluster.shutdown()
    sys.exit(status)
