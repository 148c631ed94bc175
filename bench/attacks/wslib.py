import asyncio, os, base64, struct, socket, time, sys

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
