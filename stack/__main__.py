"""python -m stack {up|down|status|env} | {start|stop|kill|log} SERVER

The topology: `up` starts one Kafka broker (`kafka`) by default, or three (`kafka-1`..`kafka-3`)
with STACK_BROKERS=3, plus MariaDB, a NameNode and three DataNodes (`datanode-1`..`datanode-3`).
It is remembered until `down`, so `status`, `env`, `start`, `stop`, `kill` and `log` act on what runs.

The pipeline never imports this package: it only reads the variables that `env` prints.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from weather.common.errors import Unrecoverable

from .supervise import StackError, log_tail
from .topology import ALL_SERVERS, Topology, endpoints, environment

COMMANDS_ALL = ("up", "down", "status", "env")
COMMANDS_ONE = ("start", "stop", "kill", "log")


def up(topology: Topology, names: list[str] | None = None) -> None:
    servers = topology.servers
    names = names or list(servers)
    began = time.monotonic()
    for name in names:  # start them all, then wait: the JVMs boot side by side
        servers[name].start()
    for name in names:
        print(f"  waiting for {name} ...", flush=True)
        servers[name].wait_ready()
    print(f"ready in {time.monotonic() - began:.0f} s:")
    for line in endpoints(topology):
        print(f"  {line}")


def up_all() -> None:
    """Start the requested topology; servers of another topology that still run are stopped first
    (switching between one broker and three restarts only Kafka: each keeps its own data)."""
    wanted = Topology.requested()
    for name, server in reversed(ALL_SERVERS.items()):
        if name not in wanted.servers and server.running():
            server.stop()
            print(f"  {name} stopped: not part of {_describe(wanted)}")
    wanted.remember()
    up(wanted)


def _describe(topology: Topology) -> str:
    return (f"{topology.brokers} Kafka broker{'s' if topology.brokers > 1 else ''} and "
            f"{topology.datanodes} DataNode{'s' if topology.datanodes > 1 else ''}")


def down() -> None:
    # Whatever runs, of any topology (reverse start order: Kafka, HDFS, MariaDB), then forget the topology.
    for name, server in reversed(ALL_SERVERS.items()):
        if server.running():
            server.stop()
            print(f"  {name} stopped")
    Topology.forget()


def status(topology: Topology) -> int:
    all_ready = True
    total = 0
    for name, server in topology.servers.items():
        pid = server.pid()
        try:
            ready = pid is not None and server.is_ready()
        except Exception:
            ready = False
        all_ready &= ready
        state = "ready" if ready else ("running, not ready" if pid else "stopped")
        rss = server.rss_bytes() or 0
        total += rss
        memory = f"{rss / 2**20:5.0f} MB" if rss else "    - MB"
        print(f"  {name:10} {state:20} pid {pid or '-':<8} RSS {memory}  log {server.log_file}")
    print(f"  {'total':10} {'':20} {'':12} RSS {total / 2**20:5.0f} MB")
    for line in endpoints(topology):
        print(f"  {line}")
    return 0 if all_ready else 3


def one_server(topology: Topology, name: str):
    servers = topology.servers
    if name not in servers:
        raise StackError(f"{name} is not part of the running stack ({_describe(topology)}); "
                         f"its servers: {', '.join(servers)}")
    return servers[name]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS_ALL + COMMANDS_ONE)
    parser.add_argument("server", nargs="?", choices=list(ALL_SERVERS))
    args = parser.parse_args(argv)
    if args.command in COMMANDS_ONE and not args.server:
        parser.error(f"`{args.command}` needs a server: one of {', '.join(Topology.current().servers)}")
    try:
        topology = Topology.current()
        if args.command == "up":
            up_all()
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status(topology)
        elif args.command == "env":
            for key, value in environment(topology).items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "start":
            up(topology, [one_server(topology, args.server).name])
        elif args.command == "stop":
            one_server(topology, args.server).stop()
        elif args.command == "kill":
            one_server(topology, args.server).kill()
        elif args.command == "log":
            print(log_tail(one_server(topology, args.server).name, 60))
    except (StackError, Unrecoverable) as error:  # Unrecoverable: no Linux /proc to tell processes apart
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
