# Refused clients that never close (issue #20, fdlow): N upgrades from one address 127.77.0.1 (MAX_CONNECTIONS_PER_IP
# lets 32 in, the rest get 429, or 503 once the cap is full); each reads its answer, then keeps its socket open and
# waits up to HOLD s for the server to close it. Prints statuses, how many the server closed, and after how long.
# usage: held_refusals.py PORT N HOLD
import os, sys, asyncio, time, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import connect
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
st = {'status': {}, 'fail': 0, 'closed_by_server': 0, 'close_s': []}
async def one(i):
    await asyncio.sleep(i * 0.005)
    try: r, w, s, h = await connect(port, '127.77.0.1', '/echo')
    except Exception: st['fail'] += 1; return
    st['status'][s] = st['status'].get(s, 0) + 1
    t0 = time.time()
    if s != 101:
        try:
            while True:
                d = await asyncio.wait_for(r.read(4096), hold - (time.time() - t0))
                if not d: st['closed_by_server'] += 1; st['close_s'].append(round(time.time() - t0, 2)); break
        except Exception: pass
    else:
        await asyncio.sleep(hold)
    w.close()
async def main():
    await asyncio.gather(*[one(i) for i in range(n)])
    c = sorted(st['close_s']); st['close_s'] = {'n': len(c), 'median': c[len(c)//2] if c else None, 'max': c[-1] if c else None}
    print(json.dumps(st))
asyncio.run(main())
