#!/usr/bin/env python3
# A minimal raw iSCSI initiator for integ_iscsi: logs in (no digests), then
# waits SECONDS for NOP-In pings. "answer": replies to each (NOP-Out) and
# expects the connection to stay open with at least two pings; "ignore":
# expects the target to close the connection.
#   nop_check.py PORT TARGET-IQN answer|ignore SECONDS
import socket, struct, sys, time
port = int(sys.argv[1]); iqn = sys.argv[2]; answer = sys.argv[3] == "answer"; secs = float(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port))
def pdu(op, flags, data=b"", itt=1, cmdsn=0, extra=b""):
    dl = len(data)
    h = struct.pack(">BBBBB3s8sIIII", op, flags, 0, 0, 0, dl.to_bytes(3, "big"), b"\x40\x00\x00\x00\x00\x01\x00\x00", itt, 0, cmdsn, 0)
    h = h + extra.ljust(16, b"\0")
    assert len(h) == 48
    return h + data + b"\0" * ((4 - dl % 4) % 4)
def recv_pdu():
    h = b""
    while len(h) < 48:
        c = s.recv(48 - len(h))
        if not c: return None
        h += c
    dl = int.from_bytes(h[5:8], "big"); n = dl + (4 - dl % 4) % 4
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c: return None
        d += c
    return h, d[:dl]
keys = b"InitiatorName=iqn.2026-11.io.tessera:nop\0SessionType=Normal\0TargetName=" + iqn.encode() + b"\0AuthMethod=None\0"
s.sendall(pdu(0x43, 0x80 | (0 << 2) | 1, keys))
h, d = recv_pdu(); assert h[0] == 0x23 and h[36] == 0, (h[:2], h[36:38])
s.sendall(pdu(0x43, 0x80 | (1 << 2) | 3, b"HeaderDigest=None\0DataDigest=None\0MaxRecvDataSegmentLength=8192\0"))
h, d = recv_pdu(); assert h[0] == 0x23 and h[36] == 0 and (h[1] & 3) == 3
statsn = struct.unpack(">I", h[24:28])[0]
t0 = time.time(); pings = 0
while time.time() - t0 < secs:
    s.settimeout(max(0.01, secs - (time.time() - t0)))
    try:
        r = recv_pdu()
    except socket.timeout:
        break
    if r is None:
        print("closed after %.1fs, %d pings" % (time.time() - t0, pings)); sys.exit(0 if not answer else 1)
    h, d = r
    if h[0] == 0x20:
        ttt = h[20:24]; pings += 1
        if answer:
            # NOP-Out answer: ITT ffffffff, TTT echoed, immediate
            out = bytearray(pdu(0x40, 0x80, b"", itt=0xffffffff, cmdsn=0))
            out[20:24] = ttt
            s.sendall(bytes(out))
print("open after %.1fs, %d pings" % (time.time() - t0, pings))
sys.exit(0 if answer and pings >= 2 else 1)
