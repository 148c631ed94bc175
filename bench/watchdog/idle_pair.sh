#!/bin/bash
# idle_pair.sh TREE_A TREE_B ROUNDS SECONDS: runs each tree's dist/main.js (build it first: `deno task
# bundle` in the tree) idle side by side, start order alternating, with the start task's flags on port 0;
# after a 5 s settle, over SECONDS, prints per tree the CPU time of the process and of its RSS watchdog
# thread (the thread named worker-1), and that thread's voluntary context switches (its wake-ups).
set -u
A=$(cd "$1" && pwd); B=$(cd "$2" && pwd); TICK=$(getconf CLK_TCK)
for tree in "$A" "$B"; do
  [ -f "$tree/dist/main.js" ] || { echo "no $tree/dist/main.js: run deno task bundle there" >&2; exit 2; }
done
snap() { # pid -> "process_ticks thread_ticks thread_switches"
  local w=""
  for t in /proc/$1/task/*; do [ "$(cat "$t/comm")" = worker-1 ] && w=$t; done
  echo "$(awk '{print $14+$15}' "/proc/$1/stat") $(awk '{print $14+$15}' "$w/stat") $(awk '/^voluntary_ctxt_switches/{print $2}' "$w/status")"
}
ms() { echo $((($1 - $2) * 1000 / TICK)); }
for r in $(seq 1 "$3"); do
  if [ $((r % 2)) = 1 ]; then order="$A $B"; else order="$B $A"; fi
  declare -A pid=()
  for tree in $order; do
    (cd "$tree" && PORT=0 BIND_ADDRESS=127.0.0.1 exec deno run -q -P \
      --v8-flags=--max-semi-space-size=2,--min-semi-space-size=2 dist/main.js > /dev/null 2>&1) &
    pid[$tree]=$!
  done
  sleep 5
  a0=($(snap "${pid[$A]}")); b0=($(snap "${pid[$B]}")); l0=$(cut -d' ' -f1 /proc/loadavg)
  sleep "$4"
  a1=($(snap "${pid[$A]}")); b1=($(snap "${pid[$B]}")); l1=$(cut -d' ' -f1 /proc/loadavg)
  kill "${pid[$A]}" "${pid[$B]}"; wait "${pid[$A]}" "${pid[$B]}" 2>/dev/null
  echo "round $r load=$l0-$l1 ${4}s: A process $(ms "${a1[0]}" "${a0[0]}") ms, thread $(ms "${a1[1]}" "${a0[1]}") ms, wake-ups $((a1[2] - a0[2])) | B process $(ms "${b1[0]}" "${b0[0]}") ms, thread $(ms "${b1[1]}" "${b0[1]}") ms, wake-ups $((b1[2] - b0[2]))"
done
