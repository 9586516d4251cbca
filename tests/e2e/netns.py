"""netns - a small private network of "hosts" on this machine, for the
scale-out test: Linux network namespaces joined by veth pairs to a bridge.

    root namespace (the load balancer's host, 10.77.X.1)
         |  veth
    +----+------------------------------------------+
    | switch namespace: bridge br0                  |
    +----+-------------+-------------+--------------+
         |  veth       |  veth       |  veth
      host "bus"    host "edge-a"  host "edge-b"    (each its own namespace,
      10.77.X.2     10.77.X.11     10.77.X.12        lo up, eth0 on the LAN)

The bridge lives in a namespace of its own, so traffic between the hosts is
never forwarded by the root namespace (whose firewall, e.g. Docker's FORWARD
DROP policy, would otherwise see it). The root namespace talks to the hosts
directly (its own INPUT/OUTPUT). Cutting a host = setting its switch port
down: the host keeps running but nothing reaches it or leaves it.

Every name carries a random tag and the subnet is one not in use, so a run
that crashed and left things behind does not break the next one.
Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
"""
import os
import random
import shutil
import signal
import subprocess
import time


def _ip(*args, check=True):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError("ip %s failed (rc %d): %s" % (" ".join(args), r.returncode,
                                                          r.stderr.strip()))
    return r.stdout


def require(tools=("ip",)):
    """Fails (AssertionError, never a skip) with a clear message when this
    machine cannot build the network: not root, or a tool missing."""
    if os.geteuid() != 0:
        raise AssertionError("the scale-out test needs root (it creates network namespaces, "
                             "veth pairs and a bridge with `ip`); run it as root as CI does")
    for t in tools:
        if not find_tool(t):
            raise AssertionError("`%s` not found: install it (scripts/bootstrap lists the Debian "
                                 "packages: iproute2, haproxy)" % t)
    r = subprocess.run([IP, "netns", "list"], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("`ip netns` does not work here: %s" % r.stderr.strip())


def find_tool(name):
    """name on PATH, or in /usr/sbin or /sbin (not always on a user's PATH)."""
    return shutil.which(name) or next((p for p in ("/usr/sbin/" + name, "/sbin/" + name)
                                       if os.access(p, os.X_OK)), None)


IP = find_tool("ip") or "ip"


class Net:
    """The LAN above. hosts: names of the host namespaces, in address order
    (the first gets .2, the others .11, .12, ...)."""

    def __init__(self, hosts):
        existing = _ip("netns", "list")
        while True:
            self.tag = "%04x" % random.randrange(0x10000)
            if ("hm-%s-" % self.tag) not in existing:
                break
        used = _ip("-o", "addr") + _ip("route")
        free = [x for x in range(1, 255) if ("10.77.%d." % x) not in used]
        if not free:
            raise AssertionError("no free 10.77.X.0/24 subnet for the test network")
        self.subnet = random.choice(free)
        self.gw = "10.77.%d.1" % self.subnet          # the root namespace's address
        self.switch = "hm-%s-switch" % self.tag
        self.root_if = "hm%slan" % self.tag            # 9 chars, fits IFNAMSIZ
        self.hosts = list(hosts)
        self.ns = {h: "hm-%s-%s" % (self.tag, h) for h in self.hosts}
        self.addr = {}
        for i, h in enumerate(self.hosts):
            self.addr[h] = "10.77.%d.%d" % (self.subnet, 2 if i == 0 else 10 + i)
        self.port = {h: "p-%s" % h[:10] for h in self.hosts}  # switch port names
        self.created = []

    def up(self):
        """Creates the namespaces, the bridge and the links; brings all up."""
        sw = self.switch
        _ip("netns", "add", sw)
        self.created.append(sw)
        _ip("-n", sw, "link", "set", "lo", "up")
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "link", "set", "br0", "up")
        for h in self.hosts:
            ns = self.ns[h]
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", sw, "link", "add", self.port[h], "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            _ip("-n", sw, "link", "set", self.port[h], "master", "br0", "up")
            _ip("-n", ns, "addr", "add", self.addr[h] + "/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", sw, "link", "add", "p-root", "type", "veth", "peer", "name", self.root_if,
            "netns", str(os.getpid()))
        _ip("-n", sw, "link", "set", "p-root", "master", "br0", "up")
        _ip("addr", "add", self.gw + "/24", "dev", self.root_if)
        _ip("link", "set", self.root_if, "up")

    def exec_prefix(self, host):
        """Argument prefix that runs a command inside host's namespace."""
        return [IP, "netns", "exec", self.ns[host]]

    def cut(self, host):
        """Pulls host's cable at the switch: its port goes down."""
        _ip("-n", self.switch, "link", "set", self.port[host], "down")

    def pids(self, host):
        r = subprocess.run([IP, "netns", "pids", self.ns[host]], capture_output=True,
                           text=True)
        return [int(p) for p in r.stdout.split()] if r.returncode == 0 else []

    def teardown(self):
        """Kills whatever still runs in the host namespaces (only processes
        this test started can be in them: the namespaces are its own), then
        deletes the namespaces (their veths go with them, the root end too)."""
        for h in self.hosts:
            if self.ns[h] not in self.created:
                continue
            for pid in self.pids(h):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(self.pids(h) for h in self.hosts
                                                  if self.ns[h] in self.created):
            time.sleep(0.05)
        errors = []
        for ns in reversed(self.created):
            r = subprocess.run([IP, "netns", "del", ns], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append("ip netns del %s: %s" % (ns, r.stderr.strip()))
        self.created = []
        if subprocess.run([IP, "link", "show", self.root_if], capture_output=True).returncode == 0:
            subprocess.run([IP, "link", "del", self.root_if], capture_output=True)
        if errors:
            raise AssertionError("; ".join(errors))
