"""scripts/soak, briefly: the whole stack under load for half a minute. The
test checks the tool itself (every server sampled, nothing died, a clean
stop); memory figures are only printed: half a minute proves no trend."""
import csv
import os
import subprocess
import sys
import tempfile

import hmtest
from hmtest import SLOW, check, eq

SOAK = os.path.join(hmtest.SRC, "scripts", "soak")
SERVERS = ["hm-broker", "hm-auth", "hm-health", "hm-chat", "hm-notify", "hm-edge"]


def test_short_soak_samples_every_process():
    with tempfile.TemporaryDirectory(prefix="hm-soak-test-") as d:
        out = os.path.join(d, "soak.csv")
        r = subprocess.run([sys.executable, SOAK, "--seconds", "30", "--sample-s", "5",
                            "--connections", "40", "--csv", out],
                           capture_output=True, text=True, timeout=(30 + 120) * SLOW)
        print(r.stdout[-3000:])
        eq(r.returncode, 0, "soak exit code (%s)" % r.stderr[-3000:])
        check("soak: ok" in r.stdout and "died" not in r.stdout, "nothing died")
        with open(out) as f:
            rows = list(csv.DictReader(f))
        eq(list(rows[0].keys()), ["time", "process", "rss_kb", "fds"], "CSV columns")
        for name in SERVERS:
            mine = [row for row in rows if row["process"] == name]
            check(len(mine) >= 4, "%s sampled through the run: %d samples" % (name, len(mine)))
            check(all(int(row["rss_kb"]) > 0 and int(row["fds"]) > 0 for row in mine),
                  "%s: RSS and fds read" % name)
        edge_fds = max(int(row["fds"]) for row in rows if row["process"] == "hm-edge")
        check(edge_fds >= 40, "the edge held the 40 connections (%d fds at most)" % edge_fds)
        check("readings_acked=0" not in r.stdout, "readings went through hm-health")


if __name__ == "__main__":
    hmtest.main([test_short_soak_samples_every_process])
