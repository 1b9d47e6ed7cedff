"""A generated log of any size, for the log benchmarks' scale rows (random line ranges, search,
memory): five services of formats logzip was never tuned on, interleaved in time order as one
file, deterministic for a seed.

    nginx       combined access log with a request-time field
    postgres    statement durations, checkpoints, connection lines
    app         JSON lines with trace ids (UUIDs), amounts and user ids
    fail2ban    bans and "Found" lines carrying IP addresses
    java        WARN/ERROR lines, now and then a stack trace

A rare line (``RARE``) appears about once per 2 million lines, for the rare-pattern search.

    python benchmarks/loggen.py OUT --mb 1024 [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np

RARE = "kernel: watchdog: BUG: soft lockup - CPU#3 stuck"
PATHS = ["/api/v1/users/{}", "/api/v1/orders/{}/items", "/static/js/app.{:x}.js", "/healthz",
         "/api/v2/search?q=item{}&page={}", "/login", "/img/p/{}.webp", "/api/v1/cart/{}/checkout"]
AGENTS = ['Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0',
          'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
          'curl/8.5.0', 'Go-http-client/2.0', 'kube-probe/1.31']
STATUS = [200, 200, 200, 200, 304, 301, 404, 500, 201]
MSGS = ["payment authorized", "cart updated", "user signed in", "inventory reserved",
        "email queued", "cache miss", "rate limited", "order shipped"]
SQL = ["SELECT * FROM orders WHERE id = {}", "UPDATE carts SET total = {} WHERE user_id = {}",
       "INSERT INTO events (kind, ref) VALUES ('view', {})",
       "DELETE FROM sessions WHERE expires < now() - interval '{} minutes'"]
JAVA = ["Connection pool exhausted, waited {} ms", "Retrying request {} after timeout",
        "Slow consumer on partition {}: lag {}", "Failed to deserialize message offset {}"]
FRAMES = ["at com.shop.orders.OrderService.place(OrderService.java:{})",
          "at com.shop.db.Pool.borrow(Pool.java:{})", "at java.base/java.lang.Thread.run(Thread.java:{})"]


def _ip(r) -> str:
    return f"{r[0]}.{r[1]}.{r[2]}.{r[3]}"


def lines(rng: np.random.Generator, n: int, t0: float) -> tuple[list[str], float]:
    """n lines starting at time t0 (seconds), and the time after them."""
    t = t0 + np.cumsum(rng.exponential(0.004, n))
    kind = rng.choice(5, n, p=[0.45, 0.15, 0.25, 0.05, 0.10])
    ints = rng.integers(0, 1 << 31, (n, 6))
    ips = rng.integers(1, 255, (n, 4))
    ips[:, 0] = rng.choice([10, 172, 192, 81, 203], n)
    out = []
    for i in range(n):
        k, a = kind[i], ints[i]
        when = dt.datetime.fromtimestamp(t[i], dt.timezone.utc)
        if rng.random() < 5e-7:
            out.append(f"{when:%b %d %H:%M:%S} host{a[0] % 8} {RARE}! [java:{a[1] % 90000}]")
        elif k == 0:
            path = PATHS[a[0] % len(PATHS)].format(a[1] % 100000, a[2] % 40)
            out.append(f'{_ip(ips[i])} - - [{when:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" '
                       f'{STATUS[a[3] % len(STATUS)]} {a[4] % 60000} "-" "{AGENTS[a[5] % len(AGENTS)]}" '
                       f'rt={(a[2] % 3000) / 1000:.3f}')
        elif k == 1:
            head = f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} UTC [{1000 + a[0] % 500}]"
            if a[1] % 50 == 0:
                out.append(f"{head} LOG:  checkpoint complete: wrote {a[2] % 5000} buffers ({(a[2] % 1000) / 10:.1f}%)")
            else:
                sql = SQL[a[3] % len(SQL)].format(a[4] % 1000000, a[5] % 1000)
                out.append(f"{head} LOG:  duration: {(a[2] % 100000) / 1000:.3f} ms  statement: {sql}")
        elif k == 2:
            trace = (f"{a[0]:08x}-{a[1] & 0xffff:04x}-4{a[2] & 0xfff:03x}-{0x8000 | a[3] & 0x3fff:04x}-"
                     f"{a[4]:08x}{a[5] & 0xffff:04x}")
            out.append(f'{{"ts":"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z","level":"info",'
                       f'"svc":"checkout","trace_id":"{trace}","msg":"{MSGS[a[0] % len(MSGS)]}",'
                       f'"amount_cents":{a[1] % 50000},"user":"u_{a[2] % 90000}"}}')
        elif k == 3:
            verb = "Ban" if a[0] % 7 == 0 else "Found"
            out.append(f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d} fail2ban.filter "
                       f"[{800 + a[1] % 20}]: INFO    [sshd] {verb} {_ip(ips[i])} - {when:%Y-%m-%d %H:%M:%S}")
        else:
            msg = JAVA[a[0] % len(JAVA)].format(a[1] % 10000, a[2] % 64)
            level = "ERROR" if a[3] % 4 == 0 else "WARN "
            out.append(f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} {level} [worker-{a[4] % 32}] "
                       f"c.s.o.OrderConsumer - {msg}")
            if level == "ERROR":
                out.extend("\t" + f.format(10 + (a[5] >> (3 * j)) % 900) for j, f in enumerate(FRAMES))
    return out, float(t[-1])


def generate(path: str, mb: float, seed: int = 0) -> int:
    """Write about ``mb`` MB of log to ``path``; returns the bytes written."""
    rng = np.random.default_rng(seed)
    t, size, target = 1764950400.0, 0, int(mb * 1e6)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        while size < target:
            chunk, t = lines(rng, 20000, t)
            text = "\n".join(chunk) + "\n"
            f.write(text)
            size += len(text)
    return size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(generate(args.out, args.mb, args.seed))


if __name__ == "__main__":
    main()
