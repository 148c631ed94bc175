#!/bin/bash
# One attack on a fresh server, with an honest bystander, a new honest client every 2 s, the listener's RSS and
# /healthz every 0.5 s beside it (x20j's run4.sh: BENCHMARKS.md "Split fragments under deno task serve", F3 rows).
# usage: run.sh NAME TASK PORT BYSTANDER_SRC CODE_DIR "ENV=.. ENV=.." -- ATTACK.py ARGS...
#   e.g. run.sh f2 serve 19400 127.200.9.7 /work/main "" -- frag.py 19400 400 512 65536 524288 40 85
# Writes $OUT/NAME (default OUT=/tmp/ws-echo-attacks): load.txt, server.log, mon.txt, hz.txt, bys.txt, fresh.txt,
# attack.txt; summary.sh NAME prints them short.
# PRIO=N (e.g. -10): the server, the bystander and fresh.py each run in a session of their own whose autogroup has nice N
# (/proc/PID/autogroup; needs root), and the attack in a session of its own at nice 0. With autogroups on
# (/proc/sys/kernel/sched_autogroup_enabled 1, as here) the kernel shares the CPU between sessions first, so the
# `nice -n -10` below counts only within a session: without PRIO the server's session weighs as much as any other
# busy session on the machine, and the attack runs at -10 in the caller's. PRIO=0 gives every part its own session
# at nice 0 (the same layout, no priority).
NAME=$1; TASK=$2; PORT=$3; BYS=$4; CODE=$5; ENVS=$6; shift 7
HERE=$(cd "$(dirname "$0")" && pwd); D=${OUT:-/tmp/ws-echo-attacks}/$NAME; rm -rf $D; mkdir -p $D; cd $CODE
echo "start $(date -u +%T) $(uptime) env=[$ENVS] code=$CODE $(git -C $CODE log -1 --format=%h)" > $D/load.txt
env $ENVS PORT=$PORT MAX_RSS_BYTES=268435456 setsid nice -n -10 deno task $TASK > $D/server.log 2>&1 &
SPID=$!; echo $SPID > $D/spid
# Sets the autogroup nice of PID's session to PRIO (see above), once PID leads its own session: written before its
# setsid(), it set the caller's session's autogroup instead.
prio() {
  [ -n "$PRIO" ] || return 0
  for _ in $(seq 1 100); do [ "$(ps -o sid= -p $1 | tr -d ' ')" = "$1" ] && break; sleep 0.02; done
  [ "$(ps -o sid= -p $1 | tr -d ' ')" = "$1" ] && echo "$PRIO" > /proc/$1/autogroup && echo "prio $1 $(cat /proc/$1/autogroup)" >> $D/load.txt
}
prio $SPID
if [ -n "$PRIO" ]; then SESS=setsid; ANICE=0; else SESS=; ANICE=-10; fi
for i in $(seq 1 120); do ss -ltnH "sport = :$PORT" | grep -q . && break; sleep 0.5; done
echo "listening $(date -u +%T)" >> $D/load.txt
cd $HERE
timeout 80 bash mon.sh $PORT 72 > $D/mon.txt 2>&1 &
$SESS nice -n -10 timeout 75 python3 bystander.py $PORT $BYS 58 > $D/bys.txt 2>&1 &
prio $!
sleep 2
$SESS nice -n -10 timeout 70 python3 fresh.py $PORT 54 > $D/fresh.txt 2>&1 &
prio $!
echo "attack $(date -u +%T) $(uptime) prio=${PRIO:-none}" >> $D/load.txt
echo "python3 $*" > $D/cmd.txt; timeout 60 bash hz.sh $PORT 55 > $D/hz.txt 2>&1 &
$SESS nice -n $ANICE timeout 42 python3 "$@" > $D/attack.txt 2>&1
echo "attack_end $(date -u +%T) rc=$? $(uptime)" >> $D/load.txt
for p in $(jobs -p | grep -v "^$SPID$"); do wait $p; done
if kill -0 $SPID 2>/dev/null; then echo "server alive at end" >> $D/load.txt; kill -- -$SPID; sleep 1; kill -9 -- -$SPID 2>/dev/null; else echo "server GONE" >> $D/load.txt; fi
wait $SPID; echo "server rc=$?" >> $D/load.txt
echo "end $(date -u +%T) $(uptime)" >> $D/load.txt
