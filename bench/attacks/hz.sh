#!/bin/bash
# usage: hz.sh PORT SECS -> every 0.5 s, one /healthz (a random worker): status, usedBytes, shedding
end=$((SECONDS+$2))
while [ $SECONDS -lt $end ]; do
  echo "$(date +%T.%N | cut -c1-10) $(curl -s -m 2 127.0.0.1:$1/healthz | grep -o '"status":"[a-z_]*"\|"usedBytes":[0-9]*\|"shedding":[a-z_"]*\|"rssBytes":[0-9]*' | tr '\n' ' ')"
  sleep 0.5
done
