#!/bin/bash
# Honest large-message clients at once (the budget's wait, docs/limits.md#memory): starts `deno task start` with
# the defaults in CODE_DIR, runs honest_many.py (N clients from N /24s 127.150.k.1, each sends REPS binary
# messages of SIZE bytes, one at a time, reading each echo), then prints one line: the load, the commit, the
# clients' counts (echoed, closed by code and reason, refused) and the server log's `limit=` counts.
# usage: quick_up.sh CODE_DIR PORT N [SIZE=1048576] [REPS=4]    writes $OUT/quick_N_SIZE.log (default OUT=/tmp/ws-echo-attacks)
CODE=$1; P=$2; N=$3; SZ=${4:-1048576}; R=${5:-4}
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}; mkdir -p $D; O=$D/quick_${N}_$SZ
cd $CODE; setsid env PORT=$P BIND_ADDRESS=127.0.0.1 timeout 60 deno task -q start > $O.log 2>&1 & GP=$!
for i in $(seq 1 80); do curl -s -m1 127.0.0.1:$P/healthz >/dev/null && break; sleep 0.5; done
L=$(cut -d' ' -f1 /proc/loadavg)
R2=$(timeout 45 python3 $HERE/honest_many.py $P $N $SZ $R 150)
echo "$(date -u +%T) load=$L code=$(git log -1 --format=%h) N=$N size=$SZ reps=$R :: $R2 :: $(grep -o 'limit=[a-z_]*' $O.log | sort | uniq -c | tr '\n' ' ')"
kill -- -$GP; sleep 1; kill -9 -- -$GP 2>/dev/null; true
