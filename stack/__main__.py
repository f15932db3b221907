"""python -m stack {up|down|status|env} | {start|stop|kill|log} SERVER

The pipeline never imports this package: it only reads the variables that `env` prints.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from .servers import SERVERS, StackError, endpoints, environment, log_tail

COMMANDS_ALL = ("up", "down", "status", "env")
COMMANDS_ONE = ("start", "stop", "kill", "log")


def up(names: list[str]) -> None:
    began = time.monotonic()
    for name in names:  # start them all, then wait: the JVMs boot side by side
        SERVERS[name].start()
    for name in names:
        print(f"  waiting for {name} ...", flush=True)
        SERVERS[name].wait_ready()
    print(f"ready in {time.monotonic() - began:.0f} s:")
    for line in endpoints():
        print(f"  {line}")


def down(names: list[str]) -> None:
    for name in reversed(names):
        SERVERS[name].stop()
        print(f"  {name} stopped")


def status() -> int:
    all_ready = True
    for name, server in SERVERS.items():
        pid = server.pid()
        try:
            ready = pid is not None and server.is_ready()
        except Exception:
            ready = False
        all_ready &= ready
        state = "ready" if ready else ("running, not ready" if pid else "stopped")
        print(f"  {name:9} {state:20} pid {pid or '-':<8} log {server.log_file}")
    for line in endpoints():
        print(f"  {line}")
    return 0 if all_ready else 3


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS_ALL + COMMANDS_ONE)
    parser.add_argument("server", nargs="?", choices=list(SERVERS))
    args = parser.parse_args(argv)
    if args.command in COMMANDS_ONE and not args.server:
        parser.error(f"`{args.command}` needs a server: one of {', '.join(SERVERS)}")
    try:
        if args.command == "up":
            up(list(SERVERS))
        elif args.command == "down":
            down(list(SERVERS))
        elif args.command == "status":
            return status()
        elif args.command == "env":
            for key, value in environment().items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "start":
            up([args.server])
        elif args.command == "stop":
            SERVERS[args.server].stop()
        elif args.command == "kill":
            SERVERS[args.server].kill()
        elif args.command == "log":
            print(log_tail(args.server, 60))
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
