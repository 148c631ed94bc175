#!/bin/bash
# A short burst of non-readers, then newcomers (stranger16's burst.sh, issue #20): under `prlimit --nofile=256:256
# deno task TASK`, nonreader.py's 200 clients from 200 /24s for 15 s; once they end, 50 crowd.py newcomers and a fresh
# bystander.py for 20 s; /healthz status, cap and the server's descriptors every 2 s (every 1 s during the burst).
# usage: burst.sh NAME CODE_DIR TASK PORT   Writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks).
NAME=$1; CODE=$2; TASK=$3; PORT=$4; HERE=$(cd "$(dirname "$0")" && pwd); O=${OUT:-/tmp/ws-echo-attacks}/$NAME
rm -rf $O; mkdir -p $O
echo "start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) code=$(git -C $CODE log -1 --format=%h)" > $O/load.txt
(cd $CODE && exec setsid prlimit --nofile=256:256 env PORT=$PORT BIND_ADDRESS=127.0.0.1 timeout 100 deno task -q $TASK) > $O/server.log 2>&1 & GP=$!
for i in $(seq 1 120); do curl -s -m1 127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.5; done; sleep 1
PID=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
hz() { echo "$(date +%T) fds=$(ls /proc/$PID/fd 2>/dev/null | wc -l) $(curl -s -m2 127.0.0.1:$PORT/healthz | grep -o '"connections":[0-9]*\|"status":"[a-z_]*"\|"cap":{[^}]*}' | tr '\n' ' ')"; }
( end=$((SECONDS+15)); while [ $SECONDS -lt $end ]; do hz; sleep 1; done ) > $O/hz_burst.txt &
python3 $HERE/nonreader.py $PORT 200 200 65536 15 90 > $O/nr.txt 2>&1; echo "burst: $(tail -1 $O/nr.txt)"
echo "after burst $(hz)"
python3 $HERE/crowd.py $PORT 50 20 97 > $O/crowd.json &
python3 $HERE/bystander.py $PORT 127.77.3.$((RANDOM%200+1)) 20 > $O/fresh_by.json &
for i in $(seq 10); do sleep 2; hz; done > $O/hz.txt
wait $(jobs -p | grep -v "^$GP$"); echo "end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $O/load.txt
kill -TERM -- -$GP 2>/dev/null; sleep 3; kill -9 -- -$GP 2>/dev/null
cat $O/load.txt; cat $O/hz.txt
echo "newcomers crowd50: $(tail -1 $O/crowd.json)"; echo "fresh bystander: $(tail -1 $O/fresh_by.json | cut -c1-300)"
echo "peak fds: $(cat $O/hz_burst.txt $O/hz.txt | grep -o 'fds=[0-9]*' | cut -d= -f2 | sort -n | tail -1); 503 reason=total lines: $(grep -c 'reason=total' $O/server.log); accept failures: $(grep -c 'listener accept failed' $O/server.log) lines"
