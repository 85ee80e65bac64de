"""A minimal msgpack encoder (nil, bool, int, float, str, list, dict) for the tests,
so they need nothing beyond the standard library to speak the bus."""

import struct


def packb(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if o >= 0:
            return b"\xcf" + struct.pack(">Q", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode()
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(o, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(packb(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(
            packb(k) + packb(v) for k, v in o.items())
    raise TypeError("cannot encode %r" % (o,))


def header(seq=1, version=1, src="py-test"):
    return packb({"v": version, "src": src, "seq": seq, "ts": 1.7e9})
