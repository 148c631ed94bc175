#!/bin/bash
# Refused clients and the listener under a low open-file limit (stranger14's test 1, issue #20): under
# `prlimit --nofile=LIMIT:LIMIT deno task start`, crowd.py's honest clients from NCROWD addresses plus NNR
# nonreader.py clients from 60 /24s that reconnect 0.2 s after each refusal, for SECS; beside them one
# `curl -m 1 /healthz` every 0.25 s and the server's descriptors every 0.5 s.
# usage: [TASK=serve] refused.sh NAME CODE_DIR PORT [LIMIT NCROWD NNR SECS]  (defaults start 256 250 60 25)
# Writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks): server.log, hz.txt (time status), fds.txt, crowd.txt,
# nr.txt; prints /healthz answered / unanswered, the longest unanswered stretch, accept failures and retry waits.
NAME=$1; CODE=$2; PORT=$3; LIMIT=${4:-256}; NCROWD=${5:-250}; NNR=${6:-60}; SECS=${7:-25}
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D
echo "start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) code=$(git -C $CODE log -1 --format=%h)" > $D/load.txt
(cd $CODE && PORT=$PORT BIND_ADDRESS=127.0.0.1 exec setsid prlimit --nofile=$LIMIT:$LIMIT deno task ${TASK:-start}) > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 120); do grep -q '^start \|"event":"start"' $D/server.log && break; sleep 0.5; done
PID=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)  # one process, workers too
echo "listening $(date -u +%T) pid=$PID fds=$(ls /proc/$PID/fd | wc -l)" >> $D/load.txt
end=$((SECONDS + SECS + 8))
# time, status (000: none), curl's exit code (7 refused: the listener is down; 28 timed out; 56 reset)
(while [ $SECONDS -lt $end ]; do echo "$(date +%s.%N | cut -c1-14) $(curl -s -m 1 -o /dev/null -w %{http_code} 127.0.0.1:$PORT/healthz) $?"; sleep 0.25; done) > $D/hz.txt &
# descriptors, then the port's TCP connections established and in CLOSE-WAIT (the client closed, the server not yet)
(while [ $SECONDS -lt $end ]; do echo "$(date +%T.%N | cut -c1-10) $(ls /proc/$PID/fd 2>/dev/null | wc -l) \
est=$(ss -tnH state established "( sport = :$PORT )" | wc -l) close_wait=$(ss -tnH state close-wait "( sport = :$PORT )" | wc -l) \
$(curl -s -m 1 127.0.0.1:$PORT/healthz | grep -o '"cap":{[^}]*}')"; sleep 0.5; done) > $D/fds.txt &
timeout $((SECS + 20)) python3 $HERE/crowd.py $PORT $NCROWD $SECS 95 > $D/crowd.txt 2>&1 &
timeout $((SECS + 20)) python3 $HERE/nonreader.py $PORT $NNR 60 262144 $SECS 130 > $D/nr.txt 2>&1 &
wait $(jobs -p | grep -v "^$SPID$")
echo "end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) fds=$(ls /proc/$PID/fd 2>/dev/null | wc -l)" >> $D/load.txt
kill -- -$SPID 2>/dev/null; wait $SPID
cat $D/load.txt
# Answered: 200, or 503 (not_accepting while the listener keeps failing).
awk '{n++; a = ($2 == "200" || $2 == "503"); if ($2 == "503") u++; if (a) ok++; else { bad++; if (!s) s = $1; if ($1 - s > w) w = $1 - s } if (a) s = 0}
  END { printf "healthz: %d probes, %d answered (%d of them 503), %d not; longest unanswered %.1f s\n", n, ok, u, bad, w }' $D/hz.txt
echo "unanswered by curl exit code (7 refused, 28 timed out, 56 reset): $(awk '$2 != "200" && $2 != "503" {print $3}' $D/hz.txt | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
echo "peak fds: $(awk '{print $2}' $D/fds.txt | sort -n | tail -1) of $LIMIT"
# Each line counts the failures since the one before (failures=N); before that field, one each.
echo "accept failures: $(grep 'listener accept failed' $D/server.log | awk '{n = 1; for (i = 1; i <= NF; i++) if ($i ~ /^failures=/) n = substr($i, 10); s += n} END {print s + 0}') in $(grep -c 'listener accept failed' $D/server.log) lines; waits: $(grep -o 'retry_ms=[0-9]*' $D/server.log | cut -d= -f2 | tr '\n' ' ')"
echo "crowd: $(tail -1 $D/crowd.txt)"; echo "nonreaders: $(tail -1 $D/nr.txt)"
