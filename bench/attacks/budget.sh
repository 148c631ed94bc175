#!/bin/bash
# How far /healthz's usedBytes goes past MEMORY_BUDGET_BYTES when 256 non-readers of 1 MiB messages from 64 /24s
# arrive at once (x20m's run.sh: docs/public-internet.md, Memory, "2.4-4.7x the budget").
# usage: budget.sh CODE_DIR PORT LABEL    writes $OUT/LABEL.* (default OUT=/tmp/ws-echo-attacks); prints max_used
D=$1; P=$2; L=$3; HERE=$(cd "$(dirname "$0")" && pwd); O=${OUT:-/tmp/ws-echo-attacks}; mkdir -p $O
cd $D
setsid bash -c "PORT=$P BIND_ADDRESS=127.0.0.1 exec deno task start" > $O/$L.server.log 2>&1 &
SP=$!
for i in $(seq 1 120); do curl -s -m 1 127.0.0.1:$P/healthz >/dev/null && break; sleep 0.5; done
DP=$(ss -ltnpH "sport = :$P" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
echo "server pgid=$SP deno pid=$DP load=$(cut -d' ' -f1-3 /proc/loadavg)" | tee $O/$L.watch
timeout 40 python3 $HERE/nonreader.py $P 256 64 1048576 32 150 > $O/$L.attack 2>&1 &
AP=$!
for i in $(seq 0 33); do
  H=$(curl -s -m 2 127.0.0.1:$P/healthz)
  U=$(echo "$H" | grep -o '"usedBytes":[0-9]*' | head -1 | cut -d: -f2)
  B=$(echo "$H" | grep -o '"budget[A-Za-z]*":[0-9]*' | head -1)
  S=$(echo "$H" | grep -o '"status":"[a-z]*"' | head -1)
  R=$(ps -o rss= -p $DP | tr -d ' ')
  [ -z "$R" ] && { echo "$i GONE" >> $O/$L.watch; break; }
  echo "$i used=$U $B rss_kb=$R $S load=$(cut -d' ' -f1 /proc/loadavg)" >> $O/$L.watch
  sleep 1
done
wait $AP
kill -- -$SP 2>/dev/null; sleep 1; kill -9 -- -$SP 2>/dev/null
awk '/used=/{split($2,a,"=");split($4,r,"=");if(a[2]>mu)mu=a[2];if(r[2]>mr)mr=r[2]} END{print "max_used="mu" max_rss_kb="mr}' $O/$L.watch | tee -a $O/$L.watch
tail -2 $O/$L.attack
