#!/usr/bin/env bash
# loom report end to end, in a real browser: a tiny training run and a synthetic 2 x 2 sweep
# over copies of it, both reports rendered by headless Chromium. Checks the DOM that Chromium
# parsed (charts, heatmap cells, table rows, no script, nothing fetched from elsewhere) and
# keeps one screenshot per chart type in the output folder, each checked not to be blank.
#   report_chromium.sh LOOM SOURCE_DIR [SCREENSHOT_DIR]
set -u
loom=$1
src=$2
shots=${3:-$PWD/report-screenshots}
fail() { echo "FAIL: $*"; exit 1; }

browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || fail "chromium is not installed; scripts/install-deps.sh installs it (this test renders the reports with it)"
command -v python3 > /dev/null || fail "python3 is not installed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$shots" || fail "cannot create $shots"
rm -f "$shots"/*.png

# The data of the quickstart is generated into runs/data/markov below the working folder.
cd "$tmp" || exit 1
"$loom" run "$src/pipelines/quickstart.yaml" --out "$tmp/run" --quiet --set stages.train.epochs=3 \
  --set stages.train.max_batches_per_epoch=20 > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "training run"; }
"$loom" report "$tmp/run" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "loom report on the run folder"; }
[ -s "$tmp/run/report.html" ] || fail "loom report wrote no run/report.html"

# A 2 x 2 sweep: three finished points with run folders (copies of the run, reports included)
# and one failed point whose folder has no report.
mkdir -p "$tmp/sweep"
for p in "nhid=32,nlayers=1" "nhid=32,nlayers=2" "nhid=64,nlayers=1" "nhid=64,nlayers=2"; do
  cp -r "$tmp/run" "$tmp/sweep/$p"
done
rm -f "$tmp/sweep/nhid=64,nlayers=2/report.html"
cat > "$tmp/sweep/sweep.json" <<'JSON'
{"name": "quickstart-sweep", "keys": ["components.model.nhid", "components.model.nlayers"],
 "primary": "test.ppl", "higher_is_better": false,
 "columns": ["test.ppl", "test.loss", "train.best_ppl", "train.seconds"],
 "points": [
  {"id": "nhid=32,nlayers=1", "dir": "nhid=32,nlayers=1", "values": {"components.model.nhid": "32", "components.model.nlayers": "1"},
   "status": "done", "results": {"test.ppl": 6.9, "test.loss": 1.93, "train.best_ppl": 6.8, "train.seconds": 12.0}},
  {"id": "nhid=32,nlayers=2", "dir": "nhid=32,nlayers=2", "values": {"components.model.nhid": "32", "components.model.nlayers": "2"},
   "status": "done", "results": {"test.ppl": 6.4, "test.loss": 1.86, "train.best_ppl": 6.3, "train.seconds": 19.5}},
  {"id": "nhid=64,nlayers=1", "dir": "nhid=64,nlayers=1", "values": {"components.model.nhid": "64", "components.model.nlayers": "1"},
   "status": "done", "results": {"test.ppl": 6.1, "test.loss": 1.81, "train.best_ppl": 6.0, "train.seconds": 21.25}},
  {"id": "nhid=64,nlayers=2", "dir": "nhid=64,nlayers=2", "values": {"components.model.nhid": "64", "components.model.nlayers": "2"},
   "status": "failed", "results": {}}
 ]}
JSON
"$loom" report "$tmp/sweep" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "loom report on the sweep folder"; }
[ -s "$tmp/sweep/report.html" ] || fail "loom report wrote no sweep/report.html"

chrome() {
  "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$(mktemp -d -p "$tmp")" "$@" \
    2>> "$tmp/chromium.log"
}

chrome --dump-dom "file://$tmp/run/report.html" > "$tmp/run.dom" || { cat "$tmp/chromium.log"; fail "chromium --dump-dom (run)"; }
chrome --dump-dom "file://$tmp/sweep/report.html" > "$tmp/sweep.dom" || { cat "$tmp/chromium.log"; fail "chromium --dump-dom (sweep)"; }

# Screenshots: report.html#ID shows only that section (CSS :target), one per chart type.
shoot() {  # NAME URL WIDTH,HEIGHT
  chrome --screenshot="$shots/$1.png" --window-size="$3" "$2" > /dev/null || { cat "$tmp/chromium.log"; fail "chromium --screenshot $1"; }
  [ -s "$shots/$1.png" ] || fail "chromium wrote no $1.png"
}
shoot run-loss-chart "file://$tmp/run/report.html#chart-loss" 760,560
shoot run-metric-chart "file://$tmp/run/report.html#chart-metric-ppl" 760,560
shoot run-results "file://$tmp/run/report.html#results" 900,420
shoot sweep-results-table "file://$tmp/sweep/report.html#results" 1000,360
shoot sweep-line-chart "file://$tmp/sweep/report.html#chart-by-nhid" 760,560
shoot sweep-heatmap "file://$tmp/sweep/report.html#heatmap" 760,340
shoot run-report-page "file://$tmp/run/report.html" 1100,1900

python3 - "$tmp" "$shots" <<'PY' || exit 1
import sys, zlib, struct
from html.parser import HTMLParser

tmp, shots = sys.argv[1], sys.argv[2]
failures = []

def check(ok, what):
    if not ok:
        failures.append(what)

class Dom(HTMLParser):
    """Every element of Chromium's serialised DOM as (tag, attributes)."""
    def __init__(self, text):
        super().__init__()
        self.elements = []
        self.feed(text)
    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
    def find(self, tag, **want):
        out = []
        for t, a in self.elements:
            if t != tag:
                continue
            ok = True
            for k, v in want.items():
                k = k.rstrip("_").replace("_", "-")
                if k == "class":
                    ok = ok and v in a.get("class", "").split()
                else:
                    ok = ok and a.get(k) == v
            if ok:
                out.append(a)
        return out

def common(dom, name):
    check(not dom.find("script"), f"{name}: has a <script> element")
    for t, a in dom.elements:
        for k in ("src", "srcset", "poster", "data"):
            check(k not in a or t == "svg", f"{name}: <{t}> has a {k} attribute")
        href = a.get("href")
        if href is not None:
            check("://" not in href and not href.startswith("//"), f"{name}: <{t}> links outside: {href}")
    check(len(dom.find("style")) == 1, f"{name}: expected one inline <style>")
    check(not dom.find("link"), f"{name}: has a <link> element")

run = Dom(open(f"{tmp}/run.dom").read())
common(run, "run")
for kind in ("loss", "metric", "lr", "grad_norm", "tokens_per_s"):
    check(len(run.find("svg", class_="line-chart", data_chart=kind)) == 1, f"run: no line chart '{kind}'")
check(len(run.find("svg", class_="line-chart")) == 5, f"run: {len(run.find('svg', class_='line-chart'))} line charts, expected 5")
check(len(run.find("g", class_="series", data_series="train")) >= 4, "run: train lines missing")
check(len(run.find("g", class_="series", data_series="valid")) >= 3, "run: valid lines missing")
check(len(run.find("polyline")) >= 7, "run: fewer lines than expected")
check(len(run.find("table", class_="scores")) == 1, "run: no scores table")
check(len(run.find("details")) == 2, "run: expected the config.yaml block and the CPU flags of the manifest")

sweep = Dom(open(f"{tmp}/sweep.dom").read())
common(sweep, "sweep")
check(len(sweep.find("svg", class_="line-chart", data_chart="sweep")) == 2, "sweep: expected a line chart per swept key")
check(len(sweep.find("svg", class_="line-chart", data_chart="curves")) == 1, "sweep: no validation curves chart")
check(len(sweep.find("svg", class_="heatmap")) == 1, "sweep: no heatmap")
check(len(sweep.find("rect", class_="cell")) == 4, f"sweep: {len(sweep.find('rect', class_='cell'))} heatmap cells, expected 4")
check(len(sweep.find("rect", class_="cell", data_status="failed")) == 1, "sweep: the failed cell is not shown as failed")
check(len(sweep.find("rect", class_="best")) == 1, "sweep: no best cell")
check(len(sweep.find("tr", class_="point")) == 4, f"sweep: {len(sweep.find('tr', class_='point'))} result rows, expected 4")
check(len(sweep.find("td", class_="best")) == 1, "sweep: the best primary value is not marked")
links = [a["href"] for a in sweep.find("a", class_="point-report")]
check(links == ["nhid=32,nlayers=1/report.html", "nhid=32,nlayers=2/report.html", "nhid=64,nlayers=1/report.html"],
      f"sweep: point links {links}")
sweep_text = open(f"{tmp}/sweep.dom").read()
check(">6.1<" in sweep_text and ">failed<" in sweep_text, "sweep: heatmap values not printed")

def png_colours(path):
    """Width, height and the pixel count of each (r, g, b) colour of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or colour not in (2, 6):
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour})")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    counts = {}
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for i in range(0, stride, bpp):
            p = tuple(line[i:i + 3])
            counts[p] = counts.get(p, 0) + 1
        prev = line
    return width, height, counts

# Each screenshot must show a drawing: many colours (lines, text anti-aliasing, heatmap
# shades), a good share of pixels unlike the background, and for the coloured charts the
# colours the report draws with.
expect = {"run-loss-chart": [(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b)],
          "run-metric-chart": [(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b)],
          "sweep-line-chart": [(0x4e, 0x79, 0xa7)],
          "sweep-heatmap": [(0xfd, 0xe7, 0x25)]}  # the best cell: the bright end of viridis
for name in ("run-loss-chart", "run-metric-chart", "run-results", "sweep-results-table", "sweep-line-chart",
             "sweep-heatmap", "run-report-page"):
    try:
        w, h, counts = png_colours(f"{shots}/{name}.png")
    except Exception as e:
        failures.append(f"{name}.png: {e}")
        continue
    background = max(counts, key=counts.get)
    drawn = 1 - counts[background] / (w * h)
    check(len(counts) >= 16, f"{name}.png looks blank: {len(counts)} colours")
    check(drawn >= 0.02, f"{name}.png looks blank: {drawn:.1%} of pixels differ from the background")
    for colour in expect.get(name, []):
        check(counts.get(colour, 0) >= 20, f"{name}.png lacks the colour #{bytes(colour).hex()}")
    print(f"{name}.png: {w}x{h}, {len(counts)} colours, {drawn:.0%} drawn")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
PY
echo "screenshots in $shots"
