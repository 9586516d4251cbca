#!/usr/bin/python3
"""docker/: no Docker engine runs here, so check what can be checked: the
compose file parses, runs every service binary the build produces, passes
the broker's endpoints by environment and gives every stateful service its
own volume; the Dockerfile's runtime stage installs every shared library
package those binaries load (found with objdump and dpkg from the real
binaries)."""
import functools
import os
import re
import subprocess

import yaml

import hmtest
from hmtest import BIN, SRC, check, eq

# Built binaries that are tools, not services.
TOOLS = {"hm-bus", "hm-bench", "hm-test-worker", "hm-ws-client", "hm-device-sim", "hm-keys"}
STATEFUL = {"hm-auth", "hm-health", "hm-chat", "hm-notify", "hm-scheduler"}


def services():
    return sorted(f for f in os.listdir(BIN) if f.startswith("hm-") and f not in TOOLS)


def compose():
    with open(os.path.join(SRC, "docker", "compose.yaml")) as f:
        return yaml.safe_load(f)


def test_compose_runs_every_service():
    doc = compose()
    commands = {svc["command"][0]: (name, svc) for name, svc in doc["services"].items()}
    for binary in services():
        check(binary in commands, "compose runs %s" % binary)
        name, svc = commands[binary]
        if binary != "hm-broker":
            env = svc.get("environment", {})
            for key in ("HM_EVENTS_IN", "HM_EVENTS_OUT", "HM_REQUESTS"):
                check(str(env.get(key, "")).startswith("tcp://broker:"),
                      "%s gets %s by environment" % (name, key))
        if binary in STATEFUL:
            vols = svc.get("volumes", [])
            check(any(v.endswith(":/data") for v in vols), "%s has a data volume" % name)
            check("/data" in svc["command"], "%s keeps its data on the volume" % name)
    volumes = [v.split(":")[0] for s in doc["services"].values() for v in s.get("volumes", [])]
    eq(len(volumes), len(set(volumes)), "one volume per service")


def runtime_packages():
    with open(os.path.join(SRC, "docker", "Dockerfile")) as f:
        text = f.read()
    runtime = text[text.rindex("FROM "):]
    m = re.search(r"apt-get install -y --no-install-recommends(.*?)&&", runtime, re.S)
    return set(m.group(1).replace("\\", " ").split())


@functools.lru_cache(maxsize=None)
def _owner(path):
    """The Debian package that installed a library file (merged /usr aware)."""
    real = os.path.realpath(path)
    for p in (path, real, "/usr" + real, real.replace("/usr/", "/", 1)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    raise AssertionError("no package owns %s" % path)


def needed_packages(binary):
    """Packages of the libraries the binary names directly (NEEDED), found
    where the loader finds them (ldd)."""
    path = os.path.join(BIN, binary)
    out = subprocess.run(["objdump", "-p", path], capture_output=True, text=True,
                         check=True).stdout
    needed = set(re.findall(r"NEEDED\s+(\S+)", out))
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", path], capture_output=True, text=True, check=True).stdout, re.M))
    pkgs = set()
    for lib in needed:
        check(lib in where, "the loader finds %s" % lib)
        pkgs.add(_owner(where[lib]))
    # The C runtime is in every image; sanitizer runtimes come from a test
    # build (the Dockerfile builds without them).
    return {p for p in pkgs if p not in ("libc6", "libgcc-s1")
            and not p.startswith(("libasan", "libubsan", "liblsan", "libtsan", "libclang-rt"))}


def _depends(pkg, seen):
    """pkg and everything it depends on, from this machine's dpkg database
    (the build machine has every runtime package installed)."""
    if pkg in seen:
        return
    seen.add(pkg)
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", pkg], capture_output=True,
                       text=True)
    for alt in r.stdout.split(","):
        name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            _depends(name, seen)


def test_dockerfile_runtime_has_every_library():
    listed = runtime_packages()
    have = set()
    for p in listed:
        _depends(p, have)
    for binary in services():
        missing = needed_packages(binary) - have
        eq(missing, set(), "runtime packages missing for %s" % binary)


if __name__ == "__main__":
    hmtest.main([test_compose_runs_every_service, test_dockerfile_runtime_has_every_library])
