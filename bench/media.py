#!/usr/bin/env python3
"""`make bench` (media part): recdata's media fetch vs img2dataset on the same 20,000 JPEGs.

Both fetch every URL from one nginx on 127.0.0.1 (Debian's nginx, installed by `make bench`
if missing), verify and decode each image:

  recdata        recdata media urls.tsv --out status.parquet  (download, sha256, size cap,
                 full decode with the `image` crate, content-addressed store, status table)
  img2dataset    img2dataset --resize_mode no --skip_reencode True --output_format files
                 (download, cv2.imdecode check, write files + per-shard parquet/json status)

Each run starts from an empty output/cache. Images/s and the ratio go to
bench/media-results.json and bench/README.md.
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "media"
IMG = WORK / "img"

NGINX_CONF = """
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    types {{ image/jpeg jpg; }}
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {img};
    }}
}}
"""


def make_images(n, py):
    stamp = WORK / f"images-{n}.ok"
    if stamp.exists():
        return
    shutil.rmtree(IMG, ignore_errors=True)
    IMG.mkdir(parents=True)
    # Written with the baseline's own OpenCV so both tools read the same JPEG flavour.
    code = r'''
import sys, numpy as np, cv2
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(n):
    h, w = int(rng.integers(96, 160)), int(rng.integers(96, 160))
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, i % 256)], -1).astype(np.uint8)
    img = cv2.add(img, rng.integers(0, 24, img.shape, dtype=np.uint8))
    cv2.imwrite(f"{out}/{i:05d}.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
'''
    subprocess.run([py, "-c", code, str(IMG), str(n)], check=True)
    stamp.touch()


def start_nginx(port):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        sys.exit("nginx not found (make bench installs Debian's nginx-light)")
    (WORK / "tmp").mkdir(exist_ok=True)
    conf = WORK / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=WORK, port=port, img=IMG))
    subprocess.run([nginx, "-c", str(conf), "-p", str(WORK)], check=True)
    time.sleep(0.5)
    return lambda: subprocess.run([nginx, "-c", str(conf), "-p", str(WORK), "-s", "stop"])


def timed(cmd, **kw):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out, err = p.communicate()
    _, status, ru = os.wait4(p.pid, 0) if p.returncode is None else (0, p.returncode, None)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{err.decode()[-3000:]}")
    return secs, out.decode(), err.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--img2dataset-python", required=True, help="python of a venv with img2dataset")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    make_images(a.n, a.img2dataset_python)
    stop = start_nginx(a.port)
    try:
        urls = [f"http://127.0.0.1:{a.port}/{i:05d}.jpg" for i in range(a.n)]
        (WORK / "urls.txt").write_text("\n".join(urls) + "\n")
        (WORK / "urls.tsv").write_text("".join(f"{i}\t{u}\n" for i, u in enumerate(urls)))
        results = {"images": a.n, "bytes": sum(p.stat().st_size for p in IMG.glob("*.jpg")), "jobs": {}}

        def run_recdata():
            out = WORK / "out-recdata"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            env = dict(os.environ, RECDATA_CACHE=str(out / "cache"))
            secs, stdout, _ = timed([a.bin, "media", str(WORK / "urls.tsv"), "--out", str(out / "status.parquet"),
                                     "--concurrency", "64", "--per-host", "64", "-q"], env=env)
            ok = int(dict(l.split("\t") for l in stdout.strip().splitlines()).get("ok", "0"))
            return secs, ok

        def run_img2dataset():
            out = WORK / "out-img2dataset"
            shutil.rmtree(out, ignore_errors=True)
            i2d = Path(a.img2dataset_python).parent / "img2dataset"
            secs, _, _ = timed([str(i2d), "--url_list", str(WORK / "urls.txt"), "--input_format", "txt",
                                "--output_folder", str(out), "--output_format", "files",
                                "--processes_count", "2", "--thread_count", "64", "--resize_mode", "no",
                                "--skip_reencode", "True", "--timeout", "10", "--retries", "0",
                                "--number_sample_per_shard", "10000", "--enable_wandb", "False",
                                "--distributor", "multiprocessing"],
                               env=dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"))
            return secs, len(list(out.glob("*/*.jpg")))

        # Alternating rounds, best of each: both write to the same disk, whose speed drifts
        # (the VM's I/O budget), so the best round is the fairest comparison.
        runs = {"recdata": [], "img2dataset": []}
        for _ in range(a.rounds):
            for name, fn in (("recdata", run_recdata), ("img2dataset", run_img2dataset)):
                secs, ok = fn()
                runs[name].append(round(secs, 2))
                print(f"{name:>12}: {secs:5.1f}s, {ok} ok, {a.n / secs:.0f} images/s", file=sys.stderr)
                results["jobs"].setdefault(name, {})["ok"] = ok
        for name, r in runs.items():
            best = min(r)
            results["jobs"][name].update({"seconds": best, "runs": r, "images_per_s": round(a.n / best)})
        r, b = results["jobs"]["recdata"], results["jobs"]["img2dataset"]
        results["speedup_vs_img2dataset"] = round(r["images_per_s"] / b["images_per_s"], 2)
    finally:
        stop()
    (HERE / "media-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
