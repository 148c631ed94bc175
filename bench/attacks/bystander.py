# usage: bystander.py PORT SRC SECONDS [path]
import os, asyncio, sys, time, json, struct
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
async def main():
    port, src, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else '/echo'
    t0 = time.time(); worst = 0; events = []; sent = recv = 0
    while time.time() - t0 < secs:
        try:
            r, w, st, head = await connect(port, src, path)
        except Exception as e:
            events.append((round(time.time()-t0,1), 'connect_fail', repr(e)[:80])); await asyncio.sleep(0.5); continue
        if st != 101:
            events.append((round(time.time()-t0,1), 'refused', st)); w.close(); await asyncio.sleep(0.5); continue
        last = time.time()
        try:
            while time.time() - t0 < secs:
                w.write(frame(1, b'bystander %d' % sent)); await w.drain(); sent += 1
                while True:
                    op, d = await asyncio.wait_for(read_frame(r), max(1, secs - (time.time() - t0)))
                    if op == 8:
                        code = struct.unpack('>H', d[:2])[0] if len(d) >= 2 else None
                        raise RuntimeError(f'close {code} {d[2:60]!r}')
                    if op == 9: w.write(frame(0xA, d)); await w.drain(); continue
                    if op == 1: break
                recv += 1
                now = time.time(); gap = now - last; last = now
                if gap > worst: worst = gap; wt = round(now - t0, 1)
                await asyncio.sleep(0.1)
        except Exception as e:
            g = time.time() - last
            if g > worst: worst = g; wt = round(time.time() - t0, 1)
            events.append((round(time.time()-t0,1), 'closed', repr(e)[:100], 'pending_s', round(g,2)))
        try: w.close()
        except: pass
    if 'last' in dir() or True: pass
    print(json.dumps({'worst_gap_s': round(worst,2), 'worst_at': wt if worst else None, 'sent': sent, 'recv': recv, 'events': events[:20], 'n_events': len(events)}))
asyncio.run(main())
