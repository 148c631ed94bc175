#!/bin/bash
# A held event loop and an honest pipelining client (stranger11 F2's cause, docs/public-internet.md "Clients that
# read, after a held loop"): honest_stream.py (64 KiB every 50 ms, a 16 MiB send buffer) and bystander.py; once both
# are connected and 2 s have passed, the server's process group is stopped (SIGSTOP) 8 s, the loop held. Prints the
# client's and the bystander's JSON and the log's limit= counts. About 25 s quiet, up to 75 s at load 30 (the python
# clients start slowly then). Needs root for SO_SNDBUFFORCE.
# usage: held_pipeline.sh NAME CODE_DIR PORT     writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks)
NAME=$1; SRC=$2; PORT=$3
S=$(cd "$(dirname "$0")" && pwd)
D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D; cd $SRC
PORT=$PORT BIND_ADDRESS=127.0.0.1 setsid deno task start > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 100); do curl -s -m 1 http://127.0.0.1:$PORT/healthz > /dev/null && break; sleep 0.3; done
L0=$(cut -d' ' -f1 /proc/loadavg)
SNDBUF=16777216 timeout 70 python3 $S/honest_stream.py $PORT 127.95.0.1 16 65536 0.05 > $D/honest.txt 2>&1 &
H=$!
timeout 70 python3 $S/bystander.py $PORT 127.90.0.7 18 > $D/bys.txt 2>&1 &
B=$!
# At load 25 the clients can take seconds to connect: stop the server only once both have.
for i in $(seq 1 100); do curl -s -m 2 http://127.0.0.1:$PORT/healthz | grep -q '"connections":2' && break; sleep 0.3; done
sleep 2; kill -STOP -- -$SPID; sleep 8; kill -CONT -- -$SPID
wait $H $B
kill -TERM -- -$SPID 2> /dev/null; sleep 2; kill -KILL -- -$SPID 2> /dev/null
echo "$NAME load $L0 honest $(cat $D/honest.txt) bystander $(cut -c1-120 $D/bys.txt) limits: $(grep -o 'limit=[a-z_]*' $D/server.log | sort | uniq -c | tr '\n' ' ')"
