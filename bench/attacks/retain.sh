#!/bin/bash
# RSS during a split-fragment attack with the watch and guard off (MAX_RSS_BYTES 4 GiB), and 30 s after it: does the
# allocator give the memory back (x20j's retain.sh: BENCHMARKS.md "Does RSS come back once the connections close?").
# usage: retain.sh NAME CODE_DIR TASK PORT "ENV=.." NCONN SECS    writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks)
#   e.g. retain.sh glibc /work/main serve 19401 "MALLOC_ARENA_MAX=2" 100 10
NAME=$1; CODE=$2; TASK=$3; PORT=$4; ENVS=$5; N=$6; S=$7
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D; cd $CODE
echo "start $(date -u +%T) $(uptime) env=[$ENVS]" > $D/load.txt
env $ENVS PORT=$PORT MAX_RSS_BYTES=4294967296 setsid deno task $TASK > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 120); do ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.5; done
cd $HERE
timeout $((S+40)) bash mon.sh $PORT $((S+35)) > $D/mon.txt 2>&1 &
MON=$!
sleep 1
timeout $((S+5)) python3 frag.py $PORT $N $N 65536 262144 $S 40 > $D/attack.txt 2>&1
echo "attack_end $(date -u +%T) $(uptime)" >> $D/load.txt
wait $MON
for p in $(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do echo "pid $p"; grep -E 'Rss|Anonymous' /proc/$p/smaps_rollup; done >> $D/load.txt
kill -- -$SPID; sleep 1; kill -9 -- -$SPID 2>/dev/null; wait $SPID 2>/dev/null
echo "end $(date -u +%T) $(uptime)" >> $D/load.txt
