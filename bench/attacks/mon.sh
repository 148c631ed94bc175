#!/bin/bash
# usage: mon.sh PORT SECONDS -> RSS of listener pid(s) every 0.5 s, anon/file from smaps_rollup
PORT=$1; SECS=$2; end=$((SECONDS+SECS)); peak=0
while [ $SECONDS -lt $end ]; do
  pids=$(ss -ltnpH "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
  tot=0; anon=0; for p in $pids; do r=$(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null); tot=$((tot + ${r:-0})); a=$(awk '/^Anonymous/{print $2}' /proc/$p/smaps_rollup 2>/dev/null); anon=$((anon + ${a:-0})); done
  [ $tot -gt $peak ] && peak=$tot
  rq=$(ss -tnH "( sport = :$PORT )" | awk '{s+=$2} END {print int(s/1024)}')
  echo "$(date +%T.%N | cut -c1-10) rss_kb=$tot anon_kb=$anon recvq_kb=$rq conns=$(ss -tnH state established "( sport = :$PORT )" | wc -l)"
  sleep 0.5
done
echo "PEAK_RSS_KB=$peak"
