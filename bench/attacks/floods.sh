#!/bin/bash
# Control-frame floods from NATTACKERS attackers (each flood.py pong 32 32 2000 38, first octets 150, 160, ...), with
# an honest bystander and a new honest client every 2 s (x20i's run.sh: BENCHMARKS.md "Floods that hold the loop").
# usage: floods.sh NAME CODE_DIR TASK PORT NATTACKERS     writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks)
NAME=$1; SRC=$2; TASK=$3; PORT=$4; NA=$5
S=$(cd "$(dirname "$0")" && pwd)
D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D; cd $SRC
echo "start $(date -u +%T) $(uptime)" > $D/load.txt
PORT=$PORT MAX_RSS_BYTES=268435456 setsid deno task $TASK > $D/server.log 2>&1 &
SPID=$!
for i in $(seq 1 120); do ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.5; done
echo "listening $(date -u +%T)" >> $D/load.txt
timeout -s INT 100 python3 $S/bystander.py $PORT 127.200.9.7 48 > $D/bys.txt 2>&1 &
B=$!
sleep 2
timeout -s INT 100 python3 $S/fresh.py $PORT 44 > $D/fresh.txt 2>&1 &
F=$!
echo "attack $(date -u +%T) $(uptime)" >> $D/load.txt
AP=""
for a in $(seq 1 $NA); do
  timeout 50 python3 $S/flood.py $PORT pong 32 32 2000 38 $((140 + 10*a)) > $D/attack$a.txt 2>&1 &
  AP="$AP $!"
done
wait $AP
echo "attack_end $(date -u +%T) $(uptime)" >> $D/load.txt
wait $B $F
if kill -0 $SPID 2>/dev/null; then echo "server alive at end" >> $D/load.txt; kill -- -$SPID; sleep 1; kill -9 -- -$SPID 2>/dev/null; else echo "server GONE" >> $D/load.txt; fi
wait $SPID; echo "server rc=$?" >> $D/load.txt
echo "end $(date -u +%T) $(uptime)" >> $D/load.txt
