#!/bin/bash
# summary.sh NAME: a run.sh or retain.sh output directory, short
D=${OUT:-/tmp/ws-echo-attacks}/$1
echo "== $1"; grep -E 'start|attack |attack_end|server' $D/load.txt | cut -c1-150
grep PEAK $D/mon.txt; echo "incidents: $(grep -c 'overload incident' $D/server.log) exits: $(grep 'overload incident' $D/server.log | grep -c 'action=exit\|action=recycle')"
grep -o 'action=[a-z]*' $D/server.log | sort | uniq -c | tr '\n' ' '; echo
tail -c 300 $D/bys.txt; echo; cat $D/fresh.txt; tail -c 200 $D/attack.txt; echo
awk '{print $2}' $D/mon.txt | sed 's/rss_kb=//' | awk 'NR%6==0{printf "%d ", $1/1024} END{print ""}'
