# stranger17's F3 readers. usage: slowread.py PORT N SECS OCT SIZE PERIOD -- honest "slow network" clients: SO_RCVBUF 2048 before connect, send SIZE every PERIOD s, read everything continuously (faster than they send)
import os, asyncio, sys, time, json, socket, struct, base64
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wslib import *
port, n, secs, oct1, size, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
st = {'in': 0, 'refused': {}, 'fail': 0, 'closed': {}, 'sent': 0, 'echoed': 0, 'errors': {}}
async def one(i, t0):
    loop = asyncio.get_running_loop()
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048); s.setblocking(False)
    s.bind((f"127.{oct1}.{i}.1", 0))
    try:
        await asyncio.wait_for(loop.sock_connect(s, ('127.0.0.1', port)), 10)
        r, w = await asyncio.open_connection(sock=s, limit=2**22)
        w.write(req()); await w.drain()
        head = await asyncio.wait_for(r.readuntil(b'\r\n\r\n'), 10)
    except Exception as e: st['fail'] += 1; return
    code = int(head.split(b' ', 2)[1])
    if code != 101: st['refused'][str(code)] = st['refused'].get(str(code), 0) + 1; return
    st['in'] += 1
    async def rd():
        while True:
            op, d = await read_frame(r)
            if op == 8: return ('close', struct.unpack('>H', d[:2])[0] if len(d) >= 2 else None)
            if op == 9: w.write(frame(0xA, d)); continue
            st['echoed'] += 1
    rt = asyncio.ensure_future(rd())
    m = frame(2, b'h' * size)
    try:
        while time.time() - t0 < secs and not rt.done():
            w.write(m); await w.drain(); st['sent'] += 1; await asyncio.sleep(period)
        if rt.done():
            res = rt.result(); k = str(res[1]); st['closed'][k] = st['closed'].get(k, 0) + 1
    except Exception as e:
        k = type(e).__name__; st['errors'][k] = st['errors'].get(k, 0) + 1
    rt.cancel(); w.transport.abort()
async def main():
    t0 = time.time()
    await asyncio.gather(*[one(i, t0) for i in range(n)])
    print('SLOWREAD', json.dumps(st))
asyncio.run(main())
