#!/bin/bash
# held_refusals.sh NAME CODE PORT [N HOLD LIMIT]: the service under prlimit LIMIT (256), held_refusals.py N (300) held HOLD
# (15) s, /healthz probed (curl -m 1) every 0.25 s and the descriptors every 0.25 s meanwhile.
NAME=$1; CODE=$2; PORT=$3; N=${4:-300}; HOLD=${5:-15}; LIMIT=${6:-256}
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D
(cd $CODE && PORT=$PORT BIND_ADDRESS=127.0.0.1 exec setsid prlimit --nofile=$LIMIT:$LIMIT deno task start) > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 120); do grep -q '^start ' $D/server.log && break; sleep 0.5; done
sleep 1; PID=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
end=$((SECONDS + HOLD + 6))
(while [ $SECONDS -lt $end ]; do echo "$(date +%s.%N | cut -c1-14) $(curl -s -m 1 -o /dev/null -w %{http_code} 127.0.0.1:$PORT/healthz) $?"; sleep 0.25; done) > $D/hz.txt &
(while [ $SECONDS -lt $end ]; do echo "$(date +%T.%N | cut -c1-10) $(ls /proc/$PID/fd 2>/dev/null | wc -l)"; sleep 0.25; done) > $D/fds.txt &
python3 $HERE/held_refusals.py $PORT $N $HOLD > $D/clients.txt 2>&1
wait $(jobs -p | grep -v "^$SPID$")
kill -- -$SPID 2>/dev/null; wait $SPID 2>/dev/null
echo "$NAME code=$(git -C $CODE log -1 --format=%h) load $(cut -d' ' -f1 /proc/loadavg)"
# Answered: 200, or 503 (not_accepting while the listener keeps failing).
awk '{n++; if ($2 == "200" || $2 == "503") ok++; if ($2 == "503") u++} END { printf "healthz answered %d of %d (%d of them 503)\n", ok, n, u }' $D/hz.txt
echo "peak fds $(awk '{print $2}' $D/fds.txt | sort -n | tail -1) of $LIMIT; accept failures $(grep 'listener accept failed' $D/server.log | awk '{n = 1; for (i = 1; i <= NF; i++) if ($i ~ /^failures=/) n = substr($i, 10); s += n} END {print s + 0}')"
echo "clients: $(cat $D/clients.txt)"
