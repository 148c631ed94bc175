#!/bin/bash
# held_peaks.sh TREE LABEL N OUT: runs the first test of TREE's tests/start/overload_held_loop_test.ts
# (3 connections of endless 8 MiB fragments, MAX_RSS_BYTES 256 MiB, or PROBE_MAX_RSS_BYTES if set: then
# the test's own asserts still use 256 MiB, read the printed line) N times, each with the service's peak
# RSS and the incidents it acted on printed; appends one line a run to OUT/summary.txt:
#   LABEL HHMMSS load=BEFORE-AFTER rc=EXIT PEAK_MIB peak status=... acted=[{reason, rss MiB, held ms, aborted}]
# (no PEAK_MIB when the test failed: OUT/LABEL_HHMMSS.txt's DIAG line has the peak, the exit status and the
# service's last incident records, written as the service is stopped whatever the outcome)
# TREE is a checkout (a clone, or `git archive` of a commit) with its own deno.json. Alternate two trees
# to compare them: for i in 1 2 3; do held_peaks.sh A a 1 out; held_peaks.sh B b 1 out; done
set -u
TREE=$(cd "$1" && pwd); LABEL=$2; N=$3; OUT=$4
mkdir -p "$OUT"
PROBE="$OUT/probe_${LABEL}_test.ts"
sed -e "s#\"\\./_overload.ts\"#\"$TREE/tests/start/_overload.ts\"#" \
  -e "s#\"\\.\\./\\.\\./#\"$TREE/#g" -e "s#\"\\.\\./_client.ts\"#\"$TREE/tests/_client.ts\"#" \
  "$TREE/tests/start/overload_held_loop_test.ts" > "$PROBE"
python3 - "$PROBE" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
anchor = "    const acted = actedOn(service.records);\n    assert.equal(watched.status(), undefined"
assert anchor in s, "the test changed: no place for the probe's line"
s = s.replace(anchor, """    const acted = actedOn(service.records);
    console.error("PEAK_MIB " + (watched.peakBytes() / MiB).toFixed(2) + " status=" + JSON.stringify(watched.status() ?? null) + " acted=" + JSON.stringify(acted.map((r) => ({ reason: String(r.reason).slice(0, 40), rss: Math.round(Number(r.rssBytes) / MiB * 10) / 10, held: r.eventLoopHeldMs, aborted: r.aborted }))));
    assert.equal(watched.status(), undefined""")
s = s.replace("startAttacked({}, { withoutAbort })", 'startAttacked(Deno.env.get("PROBE_MAX_RSS_BYTES") ? { MAX_RSS_BYTES: Deno.env.get("PROBE_MAX_RSS_BYTES")! } : {}, { withoutAbort })')
s = s.replace("    async [Symbol.asyncDispose]() {\n      clearInterval(watching);", '    async [Symbol.asyncDispose]() {\n      clearInterval(watching);\n      console.error("DIAG peak " + (peakBytes / 1048576).toFixed(1) + " status " + JSON.stringify(status ?? null) + " records " + JSON.stringify(service.records.filter((r) => r.event !== "close" && r.event !== "open").slice(-12).map((r) => [r.event, r.action, r.cause, String(r.reason ?? "").slice(0, 40), r.rssBytes, r.eventLoopHeldMs, r.signal, r.abort])));')
open(p, "w").write(s)
PY
for _ in $(seq 1 "$N"); do
  at=$(date +%H%M%S)
  load=$(cut -d' ' -f1 /proc/loadavg)
  deno test -A --config "$TREE/deno.json" --sanitize-ops --sanitize-resources \
    --filter "3 connections" "$PROBE" > "$OUT/${LABEL}_$at.txt" 2>&1
  rc=$?
  echo "$LABEL $at load=$load-$(cut -d' ' -f1 /proc/loadavg) rc=$rc $(grep -o 'PEAK_MIB.*' "$OUT/${LABEL}_$at.txt")" >> "$OUT/summary.txt"
done
