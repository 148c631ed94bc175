import asyncio, os, base64, json, struct, socket, time, sys

def frame(opcode, payload, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126: hdr = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536: hdr = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack('>H', n)
    else: hdr = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack('>Q', n)
    if mask:
        # zero mask key -> payload unchanged (cheap)
        return hdr + b'\0\0\0\0' + payload
    return hdr + payload

def req(path='/echo', host='127.0.0.1', extra=''):
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()

async def connect(port, src, path='/echo', extra='', timeout=10):
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    if os.environ.get('SNDBUF'):  # SO_SNDBUFFORCE (root): a send buffer past wmem_max
        s.setsockopt(socket.SOL_SOCKET, 32, int(os.environ['SNDBUF']))
    s.bind((src, 0))
    await asyncio.wait_for(loop.sock_connect(s, ('127.0.0.1', port)), timeout)
    r, w = await asyncio.open_connection(sock=s)
    w.write(req(path, extra=extra))
    await w.drain()
    head = await asyncio.wait_for(r.readuntil(b'\r\n\r\n'), timeout)
    status = int(head.split(b' ', 2)[1])
    return r, w, status, head

async def read_frame(r):
    h = await r.readexactly(2)
    op = h[0] & 0x0f; n = h[1] & 0x7f
    if n == 126: n = struct.unpack('>H', await r.readexactly(2))[0]
    elif n == 127: n = struct.unpack('>Q', await r.readexactly(8))[0]
    data = await r.readexactly(n)
    return op, data

def rotating(nets, oct1):
    """A source address per call, 127.OCT.x.y, each in the next of NETS /24s (OCT, OCT+1, ... past 256)."""
    ctr = [0]
    def addr():
        ctr[0] += 1; i = ctr[0]; net = i % nets
        return f"127.{oct1 + net // 256}.{net % 256}.{1 + (i // nets) % 250}"
    return addr

async def attach(port, src, stats, path='/echo'):
    """Upgrades from SRC; (r, w) once 101, else None 0.2 s later, counted in stats (fail, refused by status)."""
    try:
        r, w, st, head = await connect(port, src, path)
    except Exception:
        stats['fail'] += 1; await asyncio.sleep(0.2); return None
    if st != 101:
        stats['refused'][st] = stats['refused'].get(st, 0) + 1; w.close(); await asyncio.sleep(0.2); return None
    stats['connected'] += 1
    return r, w

def run_clients(one, nconn, secs, stats):
    """Runs NCONN one(t0) for SECS, printing the stats as JSON every 5 s and once more at the end (FINAL)."""
    async def main():
        t0 = time.time()
        async def rep():
            while time.time() - t0 < secs:
                await asyncio.sleep(5); print(round(time.time()-t0), json.dumps(stats), flush=True)
        await asyncio.gather(rep(), *[one(t0) for _ in range(nconn)])
        print('FINAL', json.dumps(stats), flush=True)
    asyncio.run(main())
