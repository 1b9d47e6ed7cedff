"""A fuzzing campaign: every target (the container and each codec) for a fixed time, one after
another, with the libFuzzer statistics and findings written to fuzz/results/campaign.json.

    python fuzz/campaign.py [SECONDS_PER_TARGET] [TARGET ...]

Each target runs in its own process with a 20 s per-input timeout and a 3 GiB RSS limit (decodes
plan at most targets.MAX_MEMORY = 1 GiB); a crash, hang or out-of-memory input is copied to
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


def run(name: str, seconds: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="omc-campaign-"))
    t = time.time()
    proc = subprocess.run([sys.executable, str(HERE / "run.py"), name, str(work / "corpus"),
                           f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=3072",
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
    return {"target": name, "seconds": round(time.time() - t, 1), "exit": proc.returncode,
            "inputs": int(stats.get("number_of_executed_units", 0)),
            "exec_per_s": int(stats.get("average_exec_per_sec", 0)),
            "peak_rss_mb": int(stats.get("peak_rss_mb", 0)), "findings": findings,
            "last_lines": [x for x in proc.stderr.splitlines() if "ERROR" in x or "SUMMARY" in x][-3:]}


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    names = sys.argv[2:] or ["container", *(f"codec:{c}" for c in targets.codec_ids())]
    out = HERE / "results" / "campaign.json"
    out.parent.mkdir(exist_ok=True)
    rows = []
    for name in names:
        rows.append(run(name, seconds))
        print(json.dumps(rows[-1]), flush=True)
        out.write_text(json.dumps({"machine": f"{platform.machine()}, {platform.system()}",
                                   "command": "python fuzz/campaign.py " + " ".join(sys.argv[1:]),
                                   "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
