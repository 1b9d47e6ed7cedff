"""A fuzzing campaign: every target (the container and each codec) for a fixed time, one after
another, with the libFuzzer statistics and findings written to fuzz/results/campaign.json.

    python fuzz/campaign.py [--seconds 300] [--timeout 20] [TARGET ...]

Each target runs in its own process for ``--seconds`` with a per-input timeout (a slower input
is a hang) and a 3 GiB RSS limit (decodes plan at most targets.MAX_MEMORY = 1 GiB); rows are
merged into the results by target, so a rerun of some targets keeps the others.  A crash,
hang or out-of-memory input is copied to
fuzz/findings/ as TARGET__KIND-HASH.bin (TARGET: container, all or a codec id), where
tests/test_fuzz.py replays it forever after.
"""

import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import targets  # noqa: E402


def run(name: str, seconds: int, timeout: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="omc-campaign-"))
    t = time.time()
    proc = subprocess.run([sys.executable, str(HERE / "run.py"), name, str(work / "corpus"),
                           f"-max_total_time={seconds}", f"-timeout={timeout}", "-rss_limit_mb=3072",
                           "-max_len=262144", f"-artifact_prefix={work}/", "-print_final_stats=1"],
                          capture_output=True, text=True)
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", proc.stderr))
    findings = []
    for art in sorted(work.glob("*-*")):
        if art.is_file() and art.name.split("-")[0] in ("crash", "timeout", "oom", "leak"):
            dest = HERE / "findings" / f"{name.replace('codec:', '')}__{art.name}.bin"
            shutil.copy(art, dest)
            findings.append(dest.name)
    shutil.rmtree(work, ignore_errors=True)
    return {"target": name, "seconds": round(time.time() - t, 1), "timeout_s": timeout,
            "date": time.strftime("%Y-%m-%d"), "exit": proc.returncode,
            "inputs": int(stats.get("number_of_executed_units", 0)),
            "exec_per_s": int(stats.get("average_exec_per_sec", 0)),
            "peak_rss_mb": int(stats.get("peak_rss_mb", 0)), "findings": findings,
            "last_lines": [x for x in proc.stderr.splitlines() if "ERROR" in x or "SUMMARY" in x][-3:]}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", help="default: container and every codec")
    ap.add_argument("--seconds", type=int, default=300, help="time per target")
    ap.add_argument("--timeout", type=int, default=20, help="per-input time limit")
    args = ap.parse_args()
    names = args.targets or ["container", "recipes", *(f"codec:{c}" for c in targets.codec_ids())]
    out = HERE / "results" / "campaign.json"
    out.parent.mkdir(exist_ok=True)
    rows = {r["target"]: r for r in json.loads(out.read_text())["rows"]} if out.exists() else {}
    for name in names:
        rows[name] = run(name, args.seconds, args.timeout)
        print(json.dumps(rows[name]), flush=True)
        out.write_text(json.dumps({"machine": f"{platform.machine()}, {platform.system()}",
                                   "command": "python fuzz/campaign.py " + " ".join(sys.argv[1:]),
                                   "rows": sorted(rows.values(), key=lambda r: r["target"])},
                                  indent=1) + "\n")


if __name__ == "__main__":
    main()
