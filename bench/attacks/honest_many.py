# honest_many.py PORT N SIZE REPS OCT: N honest clients from 127.OCT.k.1 (one /24 each), each sends REPS binary messages of SIZE,
# one at a time, reading each echo (answers pings). Counts echoes, closes (code+reason), refusals.
import asyncio, json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, n, size, reps, oc = [int(x) for x in sys.argv[1:6]]
st = {'ok': 0, 'closed': {}, 'refused': {}, 'err': {}}
async def one(k):
    try:
        r, w, s, h = await connect(port, f'127.{oc}.{k}.1', timeout=15)
    except Exception as e:
        st['err'][type(e).__name__] = st['err'].get(type(e).__name__, 0) + 1; return
    if s != 101: st['refused'][s] = st['refused'].get(s, 0) + 1; return
    try:
        for i in range(reps):
            w.write(frame(2, b'U' * size)); await w.drain()
            while True:
                op, d = await asyncio.wait_for(read_frame(r), 30)
                if op == 9: w.write(frame(0xA, d)); continue
                if op == 8:
                    c = d[:2].hex() + ' ' + d[2:60].decode(errors='replace'); st['closed'][c] = st['closed'].get(c, 0) + 1; return
                if op == 2 and len(d) == size: st['ok'] += 1; break
        w.write(frame(8, b'\x03\xe8')); await w.drain(); w.close()
    except Exception as e:
        st['err'][type(e).__name__] = st['err'].get(type(e).__name__, 0) + 1
async def main():
    t0 = time.time(); await asyncio.gather(*[one(k) for k in range(n)])
    print('FINAL', round(time.time() - t0, 1), 's', json.dumps(st), flush=True)
asyncio.run(main())
