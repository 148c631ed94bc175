#!/bin/bash
# port_grab.sh NAME CODE PORT [TASK LIMIT NIDLE SECS HOLD]: `deno task TASK` (start) under prlimit LIMIT
# (128) on 127.0.0.1:PORT; port_grab.py runs it out of descriptors with NIDLE (400) idle connections
# and binds the port itself once the listener closes, answering for HOLD (3) s; its prober asks
# /healthz on a new connection every 20 ms meanwhile (port_grab.py); then the service's listener lines.
NAME=$1; CODE=$2; PORT=$3; TASK=${4:-start}; LIMIT=${5:-128}; NIDLE=${6:-400}; SECS=${7:-12}; HOLD=${8:-3}
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D
(cd $CODE && PORT=$PORT BIND_ADDRESS=127.0.0.1 exec setsid prlimit --nofile=$LIMIT:$LIMIT deno task $TASK) > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 120); do grep -q '^start ' $D/server.log && break; sleep 0.5; done
sleep 1
python3 $HERE/port_grab.py $PORT $SECS $HOLD $NIDLE > $D/grab.txt 2>&1
kill -- -$SPID 2>/dev/null; wait $SPID 2>/dev/null
echo "$NAME code=$(git -C $CODE log -1 --format=%h) task=$TASK limit=$LIMIT load $(cut -d' ' -f1 /proc/loadavg)"
echo "grabber: $(cat $D/grab.txt)"
grep '^listener' $D/server.log | head -12
