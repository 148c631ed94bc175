#!/bin/bash
# Honest readers beside non-readers of 1 MiB (stranger19 F2, issue #20): two readers on 8 KiB receive buffers
# (64 KiB a second read at 100 kB/s; 64 KiB every 0.5 s read at 150 kB/s), a pipeliner of 64 KiB every 50 ms and
# a bystander connect first; 1.5 s later 128 non-readers of 1 MiB from 128 /24s and a crowd of 100. The service
# runs with `deno task start` at the defaults, under `nice -n -10` (run as root), so other work on the machine
# does not stand in for the attack; the clients too.
# usage: readers_beside.sh NAME CODE_DIR PORT     (output in $OUT/NAME, default OUT=/tmp/ws-echo-attacks)
# Prints one line: the code, how each honest client ended, how many were closed, the bystander's worst gap,
# the non-readers' connections, and the load average before and after.
NAME=$1; CODE=$2; PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D
cd $CODE
echo "start $(date -u +%T) $(uptime) code=$CODE $(git -C $CODE log -1 --format=%h)" > $D/load.txt
PORT=$PORT setsid nice -n -10 deno task start > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 240); do ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.5; done
cd $HERE
nice -n -10 timeout 60 python3 bystander.py $PORT 127.200.48.7 34 > $D/bys.txt 2>&1 &
nice -n -10 timeout 60 python3 slow_reader.py $PORT 127.240.0.5 30 65536 1 100000 > $D/r1.txt 2>&1 &
nice -n -10 timeout 60 python3 slow_reader.py $PORT 127.240.1.5 30 65536 0.5 150000 > $D/r2.txt 2>&1 &
nice -n -10 timeout 60 python3 honest_stream.py $PORT 127.241.0.5 30 65536 0.05 > $D/p.txt 2>&1 &
sleep 1.5
echo "attack $(date -u +%T) $(uptime)" >> $D/load.txt
nice -n -10 timeout 40 python3 nonreader.py $PORT 128 128 1048576 30 110 > $D/nr.txt 2>&1 &
nice -n -10 timeout 40 python3 crowd.py $PORT 100 28 95 > $D/crowd.txt 2>&1
for p in $(jobs -p | grep -v "^$SPID$"); do wait $p; done
echo "end $(date -u +%T) $(uptime)" >> $D/load.txt
kill -- -$SPID 2>/dev/null; sleep 1; kill -9 -- -$SPID 2>/dev/null; wait $SPID 2>/dev/null
python3 - "$D" <<'EOF'
import json, re, sys
d = sys.argv[1]
def last(f):
    try: return json.loads(open(f"{d}/{f}.txt").read().strip().splitlines()[-1].split(' ', 1)[-1] if f == 'nr' else open(f"{d}/{f}.txt").read().strip().splitlines()[-1])
    except Exception as e: return {'end': f'no output ({e.__class__.__name__})'}
ends, closed = {}, 0
for f in ('r1', 'r2', 'p'):
    end = str(last(f).get('end'))
    ends[f] = end[:40]
    # Kept: ran its time ('done'), or was stopped by its timeout still open.
    if end not in ('done', 'SIGTERM', 'None'): closed += 1
load = open(f"{d}/load.txt").read()
avg = re.findall(r'load average: ([0-9.]+)', load)  # the 1-minute figure of each line
log = open(f"{d}/server.log").read()
how = sorted(set(re.findall(r'ip=127\.24[01]\.\d+\.\d+ code=(\d+) reason="([^"]*)"(?: limit=(\w+))?', log)))
nr = last('nr'); bys = last('bys')
print(json.dumps({'run': d.rsplit('/', 1)[-1], 'code': load.splitlines()[0].split()[-1], 'honest_closed': closed, 'ends': ends,
    'how': how, 'bystander_worst_gap_s': bys.get('worst_gap_s'), 'bystander_events': bys.get('n_events'),
    'nonreaders_connected': nr.get('connected'), 'load_start_attack_end': avg}))
EOF
