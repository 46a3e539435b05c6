"""A small client and encoder for memcached's binary protocol (standard
library only), for the integration tests and for probing by hand.

Packets (doc/binary.md has the full rules):

    request   magic 0x80, opcode, keylen(2), extlen, datatype, vbucket(2),
              bodylen(4), opaque(4), cas(8), then extras, key, value
    response  magic 0x81, opcode, keylen(2), extlen, datatype, status(2),
              bodylen(4), opaque(4), cas(8), then extras, key, value

All integers are big-endian.  `req()` builds any request, malformed ones
included (every header field can be overridden); `parse()` splits a byte
string into response packets; `read_one()` reads exactly one packet from a
harness.Conn; `transact()` is the binary twin of harness.transact (the
sync sentinel is a Noop with a reserved opaque); `send_split()` sends a
byte string one byte per send.
"""

import re
import struct
import time

REQ_MAGIC = 0x80
RES_MAGIC = 0x81
HDR = struct.Struct(">BBHBBHIIQ")   # 24 bytes
HDR_LEN = 24

# Opcodes (memcached's protocol_binary.h).
GET = 0x00
SET = 0x01
ADD = 0x02
REPLACE = 0x03
DELETE = 0x04
INCR = 0x05
DECR = 0x06
QUIT = 0x07
FLUSH = 0x08
GETQ = 0x09
NOOP = 0x0a
VERSION = 0x0b
GETK = 0x0c
GETKQ = 0x0d
APPEND = 0x0e
PREPEND = 0x0f
STAT = 0x10
SETQ = 0x11
ADDQ = 0x12
REPLACEQ = 0x13
DELETEQ = 0x14
INCRQ = 0x15
DECRQ = 0x16
QUITQ = 0x17
FLUSHQ = 0x18
APPENDQ = 0x19
PREPENDQ = 0x1a
VERBOSITY = 0x1b
TOUCH = 0x1c
GAT = 0x1d
GATQ = 0x1e
SASL_LIST = 0x20
SASL_AUTH = 0x21
SASL_STEP = 0x22
GATK = 0x23
GATKQ = 0x24

OPNAMES = {v: k for k, v in dict(globals()).items()
           if k.isupper() and isinstance(v, int) and k not in (
               "REQ_MAGIC", "RES_MAGIC", "HDR_LEN") and v <= 0x24}

# Status codes.
OK = 0x0000
ENOENT = 0x0001
EEXISTS = 0x0002
E2BIG = 0x0003
EINVAL = 0x0004
NOT_STORED = 0x0005
DELTA_BADVAL = 0x0006
AUTH_ERROR = 0x0020
AUTH_CONTINUE = 0x0021
UNKNOWN = 0x0081
ENOMEM = 0x0082

NO_CREATE = 0xffffffff      # incr/decr expiration: do not create a missing item
SENTINEL_OPAQUE = 0x5e17e1e5


# ---- encoding ----------------------------------------------------------------

def req(opcode, key=b"", value=b"", extras=b"", opaque=0, cas=0, magic=REQ_MAGIC,
        datatype=0, vbucket=0, keylen=None, extlen=None, bodylen=None):
    """One request packet.  keylen/extlen/bodylen default to the real
    lengths; pass them to build a malformed header."""
    if isinstance(key, str):
        key = key.encode()
    if keylen is None:
        keylen = len(key)
    if extlen is None:
        extlen = len(extras)
    if bodylen is None:
        bodylen = len(extras) + len(key) + len(value)
    return HDR.pack(magic, opcode, keylen, extlen, datatype, vbucket, bodylen,
                    opaque, cas) + extras + key + value


def ext_set(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def ext_incr(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def ext_exp(exptime=0):
    return struct.pack(">I", exptime)


def get(key, opcode=GET, opaque=0):
    return req(opcode, key, opaque=opaque)


def store(opcode, key, value, flags=0, exptime=0, cas=0, opaque=0):
    """Set/Add/Replace and their quiet forms."""
    return req(opcode, key, value, ext_set(flags, exptime), opaque=opaque, cas=cas)


def set_(key, value, flags=0, exptime=0, cas=0, opaque=0, quiet=False):
    return store(SETQ if quiet else SET, key, value, flags, exptime, cas, opaque)


def incr(key, delta=1, initial=0, exptime=0, opcode=INCR, opaque=0, cas=0):
    return req(opcode, key, extras=ext_incr(delta, initial, exptime), opaque=opaque, cas=cas)


def touch(key, exptime, opcode=TOUCH, opaque=0):
    return req(opcode, key, extras=ext_exp(exptime), opaque=opaque)


def noop(opaque=0):
    return req(NOOP, opaque=opaque)


def flush(delay=None, opcode=FLUSH, opaque=0):
    return req(opcode, extras=b"" if delay is None else ext_exp(delay), opaque=opaque)


def stat(group=b"", opaque=0):
    return req(STAT, group, opaque=opaque)


# ---- expected replies --------------------------------------------------------

# The error texts memcached 1.6.18 puts in the value of an error reply.
ERRTEXT = {
    ENOENT: b"Not found",
    EEXISTS: b"Data exists for key.",
    E2BIG: b"Too large.",
    EINVAL: b"Invalid arguments",
    NOT_STORED: b"Not stored.",
    DELTA_BADVAL: b"Non-numeric server-side value for incr or decr",
    AUTH_ERROR: b"Auth failure.",
    UNKNOWN: b"Unknown command",
    ENOMEM: b"Out of memory allocating item",
}


def res(opcode, status=OK, extras=b"", key=b"", value=b"", opaque=0, cas=0, datatype=0):
    """One response packet, as a server sends it."""
    if isinstance(key, str):
        key = key.encode()
    return HDR.pack(RES_MAGIC, opcode, len(key), len(extras), datatype, status,
                    len(extras) + len(key) + len(value), opaque, cas) + extras + key + value


def err(opcode, status, opaque=0):
    """An error reply: no extras, no key, CAS 0, the standard text."""
    return res(opcode, status, value=ERRTEXT[status], opaque=opaque)


def hit(opcode, value, flags=0, key=b"", opaque=0, cas=0):
    """A Get/GetK/GAT... hit: 4 bytes of flags, the key for the K forms."""
    return res(opcode, extras=struct.pack(">I", flags), key=key, value=value,
               opaque=opaque, cas=cas)


def num(opcode, n, opaque=0, cas=0):
    """An incr/decr reply: the new value as 8 bytes."""
    return res(opcode, value=struct.pack(">Q", n), opaque=opaque, cas=cas)


# ---- decoding ----------------------------------------------------------------

class Packet:
    """One response packet.  `raw` is its exact bytes."""
    __slots__ = ("magic", "opcode", "keylen", "extlen", "datatype", "status",
                 "bodylen", "opaque", "cas", "extras", "key", "value", "raw")

    def __init__(self, raw):
        (self.magic, self.opcode, self.keylen, self.extlen, self.datatype, self.status,
         self.bodylen, self.opaque, self.cas) = HDR.unpack_from(raw)
        body = raw[HDR_LEN:]
        self.extras = body[:self.extlen]
        self.key = body[self.extlen:self.extlen + self.keylen]
        self.value = body[self.extlen + self.keylen:]
        self.raw = raw

    def flags(self):
        return struct.unpack(">I", self.extras)[0] if len(self.extras) == 4 else None

    def number(self):
        """The 64-bit value of an incr/decr reply."""
        return struct.unpack(">Q", self.value)[0] if len(self.value) == 8 else None

    def __repr__(self):
        return describe(self.raw)


def parse(data):
    """Split data into response packets.  Returns (packets, rest): rest is
    what does not form a whole packet (a partial packet, or bytes that are
    not a response at all, e.g. the harness's b"<EOF>" marker)."""
    out = []
    i = 0
    for _ in range(len(data) // HDR_LEN + 1):
        if len(data) - i < HDR_LEN or data[i] != RES_MAGIC:
            break
        bodylen = struct.unpack_from(">I", data, i + 8)[0]
        if len(data) - i < HDR_LEN + bodylen:
            break
        out.append(Packet(data[i:i + HDR_LEN + bodylen]))
        i += HDR_LEN + bodylen
    return out, data[i:]


def describe(data):
    """Human-readable rendering of response bytes, for failure messages."""
    pkts, rest = parse(data)
    lines = []
    for p in pkts:
        name = OPNAMES.get(p.opcode, "0x%02x" % p.opcode)
        lines.append("%s status=0x%04x ext=%r key=%r val=%r opaque=0x%x cas=%d dt=%d" % (
            name, p.status, p.extras, p.key, p.value[:80], p.opaque, p.cas, p.datatype))
    if rest:
        lines.append("rest=%r" % rest[:200])
    return "\n".join(lines) or "<nothing>"


def read_one(conn, timeout=None):
    """Read exactly one response packet from a harness.Conn (bytes after
    it stay buffered).  Returns the Packet, or None on EOF/timeout."""
    def whole(b):
        if len(b) < HDR_LEN:
            return False
        return len(b) >= HDR_LEN + struct.unpack_from(">I", b, 8)[0]
    deadline = time.monotonic() + (timeout or conn.timeout)
    for _ in range(100000):
        if whole(conn.buf):
            break
        if not conn._fill(deadline):
            break
    if not whole(conn.buf):
        return None
    n = HDR_LEN + struct.unpack_from(">I", conn.buf, 8)[0]
    raw, conn.buf = conn.buf[:n], conn.buf[n:]
    return Packet(raw)


def read_packets(conn, pred, timeout=None, limit=100000):
    """Read packets until pred(packet) is true for one (it is included),
    EOF or timeout.  Returns (list of packets, ended) where ended is
    'ok', 'eof' or 'timeout'."""
    out = []
    for _ in range(limit):
        p = read_one(conn, timeout)
        if p is None:
            return out, ("eof" if conn.eof else "timeout")
        out.append(p)
        if pred(p):
            return out, "ok"
    return out, "timeout"


_SENTINELS = {NOOP: req(NOOP, opaque=SENTINEL_OPAQUE),
              VERSION: req(VERSION, opaque=SENTINEL_OPAQUE)}


def _sentinel_at(data, opcode):
    """(start, end) of the sentinel's reply in data, walking packet by
    packet, or None.  The reply is recognised by opcode and opaque only:
    on a SASL server before authentication a Noop sentinel is answered
    'Auth failure.' (and the connection closed)."""
    pkts, _ = parse(data)
    i = 0
    for p in pkts:
        if p.opcode == opcode and p.opaque == SENTINEL_OPAQUE:
            return i, i + len(p.raw)
        i += len(p.raw)
    return None


def transact(conn, data, timeout=None, sentinel=NOOP):
    """Send data followed by a sentinel request (a Noop, or a Version:
    the one request a SASL server answers before authentication) and
    return the bytes answered before the sentinel's reply.  A closed
    connection adds b"<EOF>", a sentinel that never came back (the server
    swallowed it, or waits for more bytes) b"<TIMEOUT>" -- as
    harness.transact does for the text protocol.  A sentinel answered
    with an error status is kept in the output (it is information)."""
    try:
        conn.send(data + _SENTINELS[sentinel])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return collect(conn, timeout, sentinel)


def collect(conn, timeout=None, sentinel=NOOP):
    """Read until the sentinel's reply (see transact)."""
    deadline = time.monotonic() + (timeout or conn.timeout)
    for _ in range(100000):
        at = _sentinel_at(conn.buf, sentinel)
        if at is not None:
            start, end = at
            p = Packet(conn.buf[start:end])
            keep = end if p.status != OK else start
            out, conn.buf = conn.buf[:keep], conn.buf[end:]
            return out
        if not conn._fill(deadline):
            break
    out, conn.buf = conn.buf, b""
    return out + (b"<EOF>" if conn.eof else b"<TIMEOUT>")


def finish(conn, timeout=None, sentinel=NOOP):
    """Send only the sentinel and collect (after send_split etc.)."""
    return transact(conn, b"", timeout, sentinel)


def send_split(conn, data, pause=0.0005, every=1):
    """Send data one byte per send(), pausing every `every` bytes so the
    server sees the packet in pieces.  Stops quietly if the peer closed."""
    for i in range(len(data)):
        try:
            conn.send(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return False
        if pause and i % every == 0:
            time.sleep(pause)
    return True


# ---- masking -----------------------------------------------------------------

KEEP_CAS_FROM = 1 << 40     # CAS values a test wrote itself stay literal


def mask_cas(data, names=None):
    """Rename every non-zero CAS field of the response packets in data to
    1, 2, 3, ... in order of first appearance (so 'same CAS', 'new CAS
    after a write' and 'CAS 0' are still compared, but not the numbers a
    server happens to hand out).  Pass the same `names` dict to mask the
    replies of one transcript consistently.  Bytes after the last whole
    packet (b"<EOF>", b"<TIMEOUT>", text) are kept as they are."""
    if names is None:
        names = {}
    pkts, rest = parse(data)
    out = []
    for p in pkts:
        cas = p.cas
        if cas and cas < KEEP_CAS_FROM:
            cas = names.setdefault(cas, len(names) + 1)
        out.append(p.raw[:16] + struct.pack(">Q", cas) + p.raw[24:])
    return b"".join(out) + rest


_VERSION_RX = re.compile(rb"^\d+\.\d+\.\d+")


def mask_version(data):
    """A Version reply's value (1.6.18 vs ours 1.6.18-ng-x.y.z) -> b"<v>"."""
    pkts, rest = parse(data)
    out = []
    for p in pkts:
        if p.opcode == VERSION and p.status == OK:
            v = b"<v>"
            out.append(HDR.pack(p.magic, p.opcode, p.keylen, p.extlen, p.datatype, p.status,
                                len(v), p.opaque, p.cas) + v)
        else:
            out.append(p.raw)
    return b"".join(out) + rest


def mask(data, names=None):
    return mask_version(mask_cas(data, names))


def mask_all(replies):
    """mask() a list of replies with one CAS numbering."""
    names = {}
    return [mask(r, names) for r in replies]


def mask_stat_values(data):
    """Stat replies: each value -> b"<v>" (bodylen adjusted), so only the
    framing, the opaque, the order and the key set are compared."""
    pkts, rest = parse(data)
    out = []
    for p in pkts:
        if p.opcode == STAT and p.status == OK and p.keylen:
            v = b"<v>"
            out.append(HDR.pack(p.magic, p.opcode, p.keylen, p.extlen, p.datatype, p.status,
                                p.extlen + p.keylen + len(v), p.opaque, p.cas)
                       + p.extras + p.key + v)
        else:
            out.append(p.raw)
    return b"".join(out) + rest


# ---- pipelines -----------------------------------------------------------------

def multiget(keys, opaque_base=1, quiet_op=GETKQ):
    """GetKQ (or GetQ) for each key, ended by a Noop: the classic binary
    multiget.  Opaques count up from opaque_base; the Noop gets the next."""
    parts = [req(quiet_op, k, opaque=opaque_base + i) for i, k in enumerate(keys)]
    parts.append(noop(opaque_base + len(keys)))
    return b"".join(parts)
