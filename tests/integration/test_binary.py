"""Binary protocol (memcached's protocol_binary.h), byte for byte against
memcached 1.6.18.  doc/binary.md is the written spec; each rule
there has a test here.

Where we differ from 1.6.18 on purpose (doc/protocol.md: memcached
desyncs or answers late), a test pins memcached's bytes and ours side by
side (bdiffer).  MC_BIN=/usr/bin/memcached tests/integration/run.sh
test_binary.py runs the reference side of every test against itself.

How replies are compared: each chunk of requests is sent on one
connection followed by a Noop sentinel with a reserved opaque
(binproto.transact; a Version sentinel on SASL servers before
authentication), and the bytes before the sentinel's reply are compared
(b"<EOF>": the server closed; b"<TIMEOUT>": the sentinel was swallowed or
the server waits for more bytes).  CAS fields are compared by behaviour:
renamed 1, 2, 3... in order of first appearance over a whole transcript
(binproto.mask_all), so the expectations write CAS values that way.  A
Version reply's text is masked (ours says 1.6.18-ng-x.y.z); stats values
are masked, their framing and names are compared.

The SASL tests need saslpasswd2 (Debian's sasl2-bin) to make a sasldb in
a temporary directory; nothing under /etc is read or written.
"""

import contextlib
import os
import re
import struct
import subprocess
import time

import binproto as B
from binproto import (ADD, ADDQ, APPEND, APPENDQ, AUTH_CONTINUE, AUTH_ERROR, DECR, DECRQ,
                      DELETE, DELETEQ, DELTA_BADVAL, E2BIG, EEXISTS, EINVAL, ENOENT, ENOMEM,
                      FLUSH, FLUSHQ, GAT, GATK, GATKQ, GATQ, GET, GETK, GETKQ, GETQ, INCR,
                      INCRQ, NO_CREATE, NOOP, NOT_STORED, PREPEND, PREPENDQ, QUIT, QUITQ,
                      REPLACE, REPLACEQ, SASL_AUTH, SASL_LIST, SASL_STEP, SET, SETQ, STAT,
                      TOUCH, UNKNOWN, VERBOSITY, VERSION, err, hit, num, req, res)
import harness
import sasl_setup
from harness import TestFailure, check, eq, pair, run_both

EOF = b"<EOF>"
TIMEOUT = b"<TIMEOUT>"


# ---- comparison helpers ------------------------------------------------------

def _show(chunks):
    return "\n".join("[%d] %s" % (i, B.describe(c).replace("\n", "\n    "))
                     for i, c in enumerate(chunks))


def beq(got, want, what):
    """eq() for lists of binary replies, printing packets on mismatch."""
    if got != want:
        raise TestFailure("%s mismatch:\n got:\n%s\n want:\n%s" % (what, _show(got), _show(want)))


def transcript(chunks, timeout=None, sentinel=NOOP):
    """fn(server) sending each chunk on one connection (binproto.transact)."""
    def fn(s):
        outs = []
        with s.connect() as c:
            for ch in chunks:
                outs.append(B.transact(c, ch, timeout, sentinel))
                if c.eof:
                    break
        return outs
    return fn


def bcompare_fn(srv, fn, masker=B.mask_all):
    """Run fn(server) -> [reply bytes] on ours and the reference, compare
    the masked transcripts; return the reference's masked transcript."""
    o, r = run_both(fn, srv=srv)
    mo, mr = masker(o), masker(r)
    for i, (a, b) in enumerate(zip(mo, mr)):
        if a != b:
            raise TestFailure("reply %d differs from the reference:\n ours:\n%s\n ref:\n%s"
                              % (i, _show([a]), _show([b])))
    if len(mo) != len(mr):
        raise TestFailure("ours answered %d chunks, reference %d" % (len(mo), len(mr)))
    return mr


def bexpect(srv, chunks, want, timeout=None, sentinel=NOOP, masker=B.mask_all):
    """Compare ours with the reference and pin the reference's bytes."""
    got = bcompare_fn(srv, transcript(chunks, timeout, sentinel), masker)
    beq(got, want, "reference reply")
    return got


def cat(*parts):
    return b"".join(parts)


def bdiffer(srv, ref_chunks, ref_want, our_chunks, our_want, timeout=None):
    """A deliberate difference (doc/protocol.md): memcached's bytes are
    pinned for its input, ours for ours (often the same input)."""
    o = B.mask_all(transcript(our_chunks, timeout)(srv[0]))
    r = B.mask_all(transcript(ref_chunks, timeout)(srv[1]))
    beq(r, ref_want, "reference reply")
    beq(o, our_want, "our reply")


V = res(VERSION, value=b"<v>")          # a masked Version reply


# ---- Version, Noop, opaque ---------------------------------------------------

def test_version_and_noop(srv):
    got = bexpect(srv, [req(VERSION), req(VERSION, opaque=0xdeadbeef), B.noop(7),
                        B.noop(0xffffffff) + B.noop(0)],
                  [V, res(VERSION, value=b"<v>", opaque=0xdeadbeef), res(NOOP, opaque=7),
                   res(NOOP, opaque=0xffffffff) + res(NOOP)])
    # unmasked, the reference says exactly its version number
    def fn(s):
        with s.connect() as c:
            return [B.transact(c, req(VERSION))]
    r = run_both(fn, srv=srv)[1][0]
    eq(r, res(VERSION, value=b"1.6.18"), "reference Version reply")
    check(got is not None, "compared")


def test_datatype_and_vbucket_are_ignored(srv):
    # Requests' datatype and vbucket fields are not checked; replies carry 0.
    bexpect(srv, [req(SET, b"d", b"v", B.ext_set(5), datatype=1, vbucket=7, opaque=1),
                  req(GET, b"d", datatype=0xff, vbucket=0xffff, opaque=2)],
            [res(SET, opaque=1, cas=1), hit(GET, b"v", 5, opaque=2, cas=1)])


# ---- Get / GetQ / GetK / GetKQ ----------------------------------------------

def test_get_family_hit_and_miss(srv):
    bexpect(srv, [
        B.get(b"k", GET, 0x11223344), B.get(b"k", GETK, 5), B.get(b"k", GETQ, 6),
        B.get(b"k", GETKQ, 7),
        B.set_(b"k", b"hello", flags=0xdeadbeef, opaque=9),
        B.get(b"k", GET, 1), B.get(b"k", GETK, 2), B.get(b"k", GETQ, 3), B.get(b"k", GETKQ, 4),
        B.set_(b"e", b"", opaque=10) + B.get(b"e", GETK, 11),
    ], [
        err(GET, ENOENT, 0x11223344),
        res(GETK, ENOENT, key=b"k", opaque=5),          # GetK miss: the key, no text
        b"", b"",                                      # quiet misses: nothing
        res(SET, opaque=9, cas=1),
        hit(GET, b"hello", 0xdeadbeef, opaque=1, cas=1),
        hit(GETK, b"hello", 0xdeadbeef, key=b"k", opaque=2, cas=1),
        hit(GETQ, b"hello", 0xdeadbeef, opaque=3, cas=1),
        hit(GETKQ, b"hello", 0xdeadbeef, key=b"k", opaque=4, cas=1),
        res(SET, opaque=10, cas=2) + hit(GETK, b"", 0, key=b"e", opaque=11, cas=2),
    ])


def test_quiet_multiget_pipeline_ended_by_noop(srv):
    keys = [b"key%03d" % i for i in range(60)]
    stored = keys[::3]
    setup = b"".join(B.set_(k, b"v-" + k, flags=i, quiet=True)
                     for i, k in enumerate(stored))
    want_kq = b"".join(hit(GETKQ, b"v-" + k, keys.index(k) // 3, key=k,
                           opaque=100 + keys.index(k), cas=keys.index(k) // 3 + 1)
                       for k in stored) + res(NOOP, opaque=100 + len(keys))
    want_q = b"".join(hit(GETQ, b"v-" + k, keys.index(k) // 3,
                          opaque=500 + keys.index(k), cas=keys.index(k) // 3 + 1)
                      for k in stored) + res(NOOP, opaque=500 + len(keys))
    bexpect(srv, [setup, B.multiget(keys, 100), B.multiget(keys, 500, GETQ),
                  B.multiget([b"nope%d" % i for i in range(50)], 1)],
            [b"", want_kq, want_q, res(NOOP, opaque=51)])


def test_mixed_quiet_and_loud_pipeline(srv):
    # Quiet replies that are sent (hits, errors) stay in request order
    # with the loud ones.
    batch = cat(B.set_(b"a", b"1", opaque=1, quiet=True),
                B.get(b"a", GETQ, 2), B.get(b"zz", GETQ, 3), B.get(b"a", GET, 4),
                B.store(ADDQ, b"a", b"x", opaque=5), B.get(b"a", GETKQ, 6),
                B.req(DELETEQ, b"zz", opaque=7), B.noop(8), B.get(b"a", GETK, 9))
    bexpect(srv, [batch],
            [cat(hit(GETQ, b"1", opaque=2, cas=1), hit(GET, b"1", opaque=4, cas=1),
                 err(ADDQ, EEXISTS, 5), hit(GETKQ, b"1", key=b"a", opaque=6, cas=1),
                 err(DELETEQ, ENOENT, 7), res(NOOP, opaque=8),
                 hit(GETK, b"1", key=b"a", opaque=9, cas=1))])


# ---- Set / Add / Replace ------------------------------------------------------

def test_set_add_replace(srv):
    bexpect(srv, [
        B.set_(b"k", b"v1", flags=1, exptime=0, opaque=1),
        B.set_(b"k", b"v2", flags=2, opaque=2),
        B.store(ADD, b"k", b"x", opaque=3),
        B.store(ADD, b"n", b"new", flags=3, opaque=4),
        B.store(REPLACE, b"nope", b"x", opaque=5),
        B.store(REPLACE, b"n", b"rep", flags=4, opaque=6),
        B.get(b"k", GETK, 7) + B.get(b"n", GETK, 8),
    ], [
        res(SET, opaque=1, cas=1), res(SET, opaque=2, cas=2),
        err(ADD, EEXISTS, 3), res(ADD, opaque=4, cas=3),
        err(REPLACE, ENOENT, 5), res(REPLACE, opaque=6, cas=4),
        hit(GETK, b"v2", 2, b"k", 7, 2) + hit(GETK, b"rep", 4, b"n", 8, 4),
    ])


def test_quiet_storage_forms(srv):
    # SetQ/AddQ/ReplaceQ say nothing on success; their errors are sent.
    bexpect(srv, [
        B.store(SETQ, b"k", b"v", opaque=1),
        B.store(ADDQ, b"k", b"v", opaque=2),
        B.store(ADDQ, b"k2", b"v", opaque=3),
        B.store(REPLACEQ, b"k2", b"w", opaque=4),
        B.store(REPLACEQ, b"zz", b"w", opaque=5),
        B.get(b"k2", GETK, 6),
    ], [
        b"", err(ADDQ, EEXISTS, 2), b"", b"", err(REPLACEQ, ENOENT, 5),
        hit(GETK, b"w", key=b"k2", opaque=6, cas=1),
    ])


def test_binary_value_bytes_and_flags(srv):
    val = bytes(range(256)) * 3 + b"\r\n\x00\x80\x81"
    bexpect(srv, [B.set_(b"bin", val, flags=0xffffffff, opaque=1) + B.get(b"bin", GETK, 2)],
            [res(SET, opaque=1, cas=1) + hit(GETK, val, 0xffffffff, b"bin", 2, 1)])


# ---- Append / Prepend ----------------------------------------------------------

def test_append_prepend(srv):
    bexpect(srv, [
        req(APPEND, b"nope", b"x", opaque=1),
        req(PREPEND, b"nope", b"x", opaque=2),
        B.set_(b"k", b"mid", flags=9, opaque=3),
        req(APPEND, b"k", b">>", opaque=4),
        req(PREPEND, b"k", b"<<", opaque=5),
        req(APPENDQ, b"k", b"!", opaque=6),
        req(PREPENDQ, b"k", b"?", opaque=7),
        req(APPENDQ, b"nope", b"x", opaque=8),
        req(PREPENDQ, b"nope", b"x", opaque=9),
        req(APPEND, b"k", b"", opaque=10),
        B.get(b"k", GETK, 11),
    ], [
        err(APPEND, NOT_STORED, 1), err(PREPEND, NOT_STORED, 2),
        res(SET, opaque=3, cas=1), res(APPEND, opaque=4, cas=2), res(PREPEND, opaque=5, cas=3),
        b"", b"", err(APPENDQ, NOT_STORED, 8), err(PREPENDQ, NOT_STORED, 9),
        res(APPEND, opaque=10, cas=4),
        hit(GETK, b"?<<mid>>!", 9, b"k", 11, 4),     # flags kept from the set
    ])


# ---- Delete -------------------------------------------------------------------

def test_delete(srv):
    bexpect(srv, [
        req(DELETE, b"k", opaque=1),
        req(DELETEQ, b"k", opaque=2),
        B.set_(b"k", b"v", quiet=True) + B.set_(b"j", b"v", quiet=True),
        req(DELETE, b"k", opaque=3),
        req(DELETEQ, b"j", opaque=4),
        B.get(b"k", GETK, 5) + B.get(b"j", GETK, 6),
    ], [
        err(DELETE, ENOENT, 1), err(DELETEQ, ENOENT, 2), b"",
        res(DELETE, opaque=3),                      # CAS 0 in a delete reply
        b"",
        res(GETK, ENOENT, key=b"k", opaque=5) + res(GETK, ENOENT, key=b"j", opaque=6),
    ])


# ---- CAS ----------------------------------------------------------------------

def test_cas_semantics(srv):
    # Any non-zero CAS in a Set/Add/Replace request makes it a compare-and-
    # swap: Add with the right CAS on an existing item stores, Add with a
    # CAS on a missing item is "Not found".
    def fn(s):
        outs = []
        with s.connect() as c:
            t = lambda d: outs.append(B.transact(c, d)) or outs[-1]
            cas1 = B.parse(t(B.set_(b"k", b"v1", opaque=1)))[0][0].cas
            t(B.set_(b"k", b"v2", cas=cas1 + 1000, opaque=2))       # wrong
            t(B.set_(b"nokey", b"v", cas=cas1, opaque=3))            # missing
            t(B.set_(b"k", b"v2", cas=cas1 + 1000, opaque=4, quiet=True))
            cas2 = B.parse(t(B.set_(b"k", b"v2", cas=cas1, opaque=5)))[0][0].cas
            t(B.store(ADD, b"k", b"a", cas=cas1, opaque=6))         # stale
            cas3 = B.parse(t(B.store(ADD, b"k", b"a", cas=cas2, opaque=7)))[0][0].cas
            t(B.store(ADD, b"newkey", b"a", cas=cas3, opaque=8))
            t(B.store(REPLACE, b"k", b"r", cas=cas2, opaque=9))
            cas4 = B.parse(t(B.store(REPLACE, b"k", b"r", cas=cas3, opaque=10)))[0][0].cas
            t(B.store(REPLACEQ, b"k", b"r2", cas=cas4, opaque=11))
            t(B.get(b"k", GETK, 12))
            return outs
    got = bcompare_fn(srv, fn)
    beq(got, [
        res(SET, opaque=1, cas=1), err(SET, EEXISTS, 2), err(SET, ENOENT, 3),
        err(SETQ, EEXISTS, 4), res(SET, opaque=5, cas=2),
        err(ADD, EEXISTS, 6), res(ADD, opaque=7, cas=3), err(ADD, ENOENT, 8),
        err(REPLACE, EEXISTS, 9), res(REPLACE, opaque=10, cas=4), b"",
        hit(GETK, b"r2", key=b"k", opaque=12, cas=5),
    ], "reference transcript")


def test_cas_on_append_delete_incr(srv):
    def fn(s):
        outs = []
        with s.connect() as c:
            t = lambda d: outs.append(B.transact(c, d)) or outs[-1]
            cas1 = B.parse(t(B.set_(b"k", b"v", opaque=1)))[0][0].cas
            t(req(APPEND, b"k", b"+", cas=cas1 + 1000, opaque=2))
            t(req(APPEND, b"zz", b"+", cas=cas1, opaque=3))
            cas2 = B.parse(t(req(PREPEND, b"k", b"-", cas=cas1, opaque=4)))[0][0].cas
            t(req(DELETE, b"k", cas=cas1, opaque=5))
            t(req(DELETEQ, b"k", cas=cas1, opaque=6))
            t(req(DELETE, b"k", cas=cas2, opaque=7))
            cas3 = B.parse(t(B.set_(b"n", b"10", opaque=8)))[0][0].cas
            t(B.incr(b"n", 1, cas=cas3 + 1000, opaque=9))
            t(B.incr(b"n", 1, cas=cas3, opaque=10))
            t(B.incr(b"m", 1, 50, 0, cas=12345, opaque=11))          # created: CAS ignored
            t(B.incr(b"x", 1, 50, NO_CREATE, cas=12345, opaque=12))
            t(B.incr(b"n", 1, cas=cas3, opcode=DECRQ, opaque=13))
            return outs
    got = bcompare_fn(srv, fn)
    beq(got, [
        res(SET, opaque=1, cas=1), err(APPEND, EEXISTS, 2), err(APPEND, NOT_STORED, 3),
        res(PREPEND, opaque=4, cas=2), err(DELETE, EEXISTS, 5), err(DELETEQ, EEXISTS, 6),
        res(DELETE, opaque=7), res(SET, opaque=8, cas=3), err(INCR, EEXISTS, 9),
        num(INCR, 11, opaque=10, cas=4), num(INCR, 50, opaque=11, cas=5),
        err(INCR, ENOENT, 12), err(DECRQ, EEXISTS, 13),
    ], "reference transcript")


def test_cas_shared_with_text_protocol(srv):
    # A binary reply's CAS is the text protocol's gets unique, and the
    # other way round; flags cross over too.
    def fn(s):
        with s.connect() as b, s.connect() as t:
            cas = B.parse(B.transact(b, B.set_(b"k", b"abc", flags=42)))[0][0].cas
            line = harness.transact(t, b"gets k\r\n").split(b"\r\n")[0]
            check(line.split()[:4] == [b"VALUE", b"k", b"42", b"3"], "gets line %r" % line)
            text_cas = int(line.split()[4])
            harness.transact(t, b"set t 7 0 2\r\nxy\r\n")
            line = harness.transact(t, b"gets t\r\n").split(b"\r\n")[0]
            p = B.parse(B.transact(b, B.get(b"t", GETK)))[0][0]
            return [cas == text_cas, p.flags(), p.value, p.cas == int(line.split()[4])]
    o, r = run_both(fn, srv=srv)
    eq(r, [True, 7, b"xy", True], "reference")
    eq(o, r, "ours")


# ---- Incr / Decr ----------------------------------------------------------------

def test_incr_decr(srv):
    bexpect(srv, [
        B.incr(b"n", 5, 100, 0, opaque=1),               # missing: created with initial
        B.incr(b"n", 5, 100, 0, opaque=2),
        B.incr(b"n", 200, 7, 0, DECR, opaque=3),         # floor at 0
        B.incr(b"m", 1, 100, NO_CREATE, DECR, opaque=4),
        B.incr(b"m", 1, 100, NO_CREATE, opaque=5),
        B.incr(b"m", 1, 100, NO_CREATE, INCRQ, opaque=6),
        B.incr(b"m", 1, 77, 0, INCRQ, opaque=7),
        B.incr(b"m", 3, 0, 0, INCRQ, opaque=8),
        B.incr(b"m", 1, 0, 0, DECRQ, opaque=9),
        B.get(b"m", GETK, 10) + B.get(b"n", GETK, 11),
        B.incr(b"ih", 1, 0xffffffffffffffff, 0, opaque=12) + B.get(b"ih", GET, 13),
    ], [
        num(INCR, 100, 1, 1), num(INCR, 105, 2, 2), num(DECR, 0, 3, 3),
        err(DECR, ENOENT, 4), err(INCR, ENOENT, 5), err(INCRQ, ENOENT, 6),
        b"", b"", b"",
        hit(GETK, b"79", key=b"m", opaque=10, cas=4)
        + hit(GETK, b"0  ", key=b"n", opaque=11, cas=3),   # rewritten in place, padded
        num(INCR, 0xffffffffffffffff, 12, 5)
        + hit(GET, b"18446744073709551615", opaque=13, cas=5),
    ])


def test_incr_on_text_values(srv):
    bexpect(srv, [
        B.set_(b"t", b"abc", quiet=True) + B.incr(b"t", 1, opaque=1),
        B.incr(b"t", 1, opcode=INCRQ, opaque=2),
        B.set_(b"w", b"18446744073709551615", quiet=True) + B.incr(b"w", 2, opaque=3)
        + B.get(b"w", GET, 4),
        B.set_(b"big", b"99999999999999999999", quiet=True) + B.incr(b"big", 1, opaque=5),
        B.set_(b"neg", b"-5", quiet=True) + B.incr(b"neg", 1, opaque=6),
        B.set_(b"sp", b"12 ", quiet=True) + B.incr(b"sp", 1, opaque=7),
        B.set_(b"ln", b"99", quiet=True) + B.incr(b"ln", 1, opaque=8) + B.get(b"ln", GET, 9),
        B.set_(b"fl", b"5", flags=77, quiet=True) + B.incr(b"fl", 1, opcode=DECR, opaque=10)
        + B.get(b"fl", GET, 11),
    ], [
        err(INCR, DELTA_BADVAL, 1), err(INCRQ, DELTA_BADVAL, 2),
        num(INCR, 1, 3, 1) + hit(GET, b"1" + b" " * 19, opaque=4, cas=1),
        err(INCR, DELTA_BADVAL, 5), err(INCR, DELTA_BADVAL, 6),
        num(INCR, 13, 7, 2),
        num(INCR, 100, 8, 3) + hit(GET, b"100", opaque=9, cas=3),
        num(DECR, 4, 10, 4) + hit(GET, b"4", 77, opaque=11, cas=4),
    ])


def test_incr_created_item_expires(srv):
    def fn(s):
        with s.connect() as c:
            a = B.transact(c, B.incr(b"n", 1, 9, 1, opaque=1) + B.get(b"n", GETK, 2))
            time.sleep(2.2)
            return [a, B.transact(c, B.get(b"n", GETK, 3))]
    got = bcompare_fn(srv, fn)
    beq(got, [num(INCR, 9, 1, 1) + hit(GETK, b"9", key=b"n", opaque=2, cas=1),
              res(GETK, ENOENT, key=b"n", opaque=3)], "reference transcript")


# ---- Touch / GAT ------------------------------------------------------------------

def test_touch_and_gat_replies(srv):
    bexpect(srv, [
        B.set_(b"k", b"val", flags=7, quiet=True),
        B.touch(b"k", 100, TOUCH, 2), B.touch(b"zz", 100, TOUCH, 3),
        B.touch(b"k", 100, GAT, 4), B.touch(b"k", 100, GATK, 5),
        B.touch(b"k", 100, GATQ, 6), B.touch(b"k", 100, GATKQ, 7),
        B.touch(b"zz", 100, GAT, 8), B.touch(b"zz", 100, GATK, 9),
        B.touch(b"zz", 100, GATQ, 10), B.touch(b"zz", 100, GATKQ, 11),
    ], [
        b"",
        res(TOUCH, extras=struct.pack(">I", 7), opaque=2, cas=1),  # flags, no value
        err(TOUCH, ENOENT, 3),
        hit(GAT, b"val", 7, opaque=4, cas=1), hit(GATK, b"val", 7, b"k", 5, 1),
        hit(GATQ, b"val", 7, opaque=6, cas=1), hit(GATKQ, b"val", 7, b"k", 7, 1),
        err(GAT, ENOENT, 8), res(GATK, ENOENT, key=b"zz", opaque=9), b"", b"",
    ])


def test_touch_and_gat_set_the_expiry(srv):
    def fn(s):
        with s.connect() as c:
            a = B.transact(c, cat(B.set_(b"t", b"1", quiet=True), B.set_(b"g", b"2", quiet=True),
                                  B.set_(b"x", b"3", exptime=1, quiet=True),
                                  B.touch(b"t", 1, TOUCH, 1), B.touch(b"g", 1, GATQ, 2),
                                  B.touch(b"x", 0, GATKQ, 3)))
            time.sleep(2.2)
            return [a, B.transact(c, B.multiget([b"t", b"g", b"x"], 10))]
    got = bcompare_fn(srv, fn)
    beq(got, [cat(res(TOUCH, extras=b"\0\0\0\0", opaque=1, cas=1),
                  hit(GATQ, b"2", opaque=2, cas=2), hit(GATKQ, b"3", key=b"x", opaque=3, cas=3)),
              cat(hit(GETKQ, b"3", key=b"x", opaque=12, cas=3), res(NOOP, opaque=13))],
        "reference transcript")


def test_set_expiry(srv):
    # Relative seconds, or an absolute time when above 30 days (one in the
    # past expires at once); 0xffffffff is a time far in the future.
    def fn(s):
        with s.connect() as c:
            a = B.transact(c, cat(B.set_(b"e1", b"v", exptime=1, quiet=True),
                                  B.set_(b"e2", b"v", exptime=2592001, quiet=True),
                                  B.set_(b"e3", b"v", exptime=0xffffffff, quiet=True),
                                  B.multiget([b"e1", b"e2", b"e3"], 1)))
            time.sleep(2.2)
            return [a, B.transact(c, B.multiget([b"e1", b"e2", b"e3"], 1))]
    got = bcompare_fn(srv, fn)
    beq(got, [cat(hit(GETKQ, b"v", key=b"e1", opaque=1, cas=1),
                  hit(GETKQ, b"v", key=b"e3", opaque=3, cas=2), res(NOOP, opaque=4)),
              cat(hit(GETKQ, b"v", key=b"e3", opaque=3, cas=2), res(NOOP, opaque=4))],
        "reference transcript")


# ---- Flush ----------------------------------------------------------------------

def test_flush_immediate_and_quiet(srv):
    bexpect(srv, [
        B.set_(b"a", b"1", quiet=True) + B.flush(opaque=1) + B.get(b"a", GETK, 2),
        B.set_(b"a", b"1", quiet=True) + B.flush(opcode=FLUSHQ, opaque=3) + B.get(b"a", GETK, 4),
        B.set_(b"a", b"1", quiet=True) + B.flush(0, opaque=5) + B.get(b"a", GETK, 6),
        B.set_(b"a", b"1", quiet=True) + B.flush(0, FLUSHQ, opaque=7) + B.get(b"a", GETK, 8),
    ], [
        res(FLUSH, opaque=1) + res(GETK, ENOENT, key=b"a", opaque=2),
        res(GETK, ENOENT, key=b"a", opaque=4),
        res(FLUSH, opaque=5) + res(GETK, ENOENT, key=b"a", opaque=6),
        res(GETK, ENOENT, key=b"a", opaque=8),
    ])


def test_flush_with_delay(srv):
    def fn(s):
        with s.connect() as c:
            a = B.transact(c, cat(B.set_(b"a", b"1", quiet=True), B.flush(2, opaque=1),
                                  B.get(b"a", GETK, 2), B.flush(2, FLUSHQ, opaque=3)))
            time.sleep(2.5)
            b = B.transact(c, cat(B.get(b"a", GETK, 4), B.set_(b"b", b"2", quiet=True),
                                  B.get(b"b", GETK, 5)))
            return [a, b]
    got = bcompare_fn(srv, fn)
    beq(got, [res(FLUSH, opaque=1) + hit(GETK, b"1", key=b"a", opaque=2, cas=1),
              res(GETK, ENOENT, key=b"a", opaque=4) + hit(GETK, b"2", key=b"b", opaque=5, cas=2)],
        "reference transcript")


def test_flush_disabled_with_F():
    # -F: Flush and FlushQ answer "Auth failure." (status 0x20), the
    # connection stays; nothing is flushed.
    with pair(["-F"]) as srv:
        bexpect(srv, [B.set_(b"a", b"1", quiet=True) + B.flush(opaque=1),
                      B.flush(opcode=FLUSHQ, opaque=2), B.flush(5, opaque=3),
                      B.get(b"a", GETK, 4)],
                [err(FLUSH, AUTH_ERROR, 1), err(FLUSHQ, AUTH_ERROR, 2), err(FLUSH, AUTH_ERROR, 3),
                 hit(GETK, b"1", key=b"a", opaque=4, cas=1)])


# ---- Quit ------------------------------------------------------------------------

def test_quit_and_quitq(srv):
    bexpect(srv, [B.set_(b"a", b"1", quiet=True) + B.get(b"a", GET, 1)
                  + req(QUIT, opaque=2) + B.get(b"a", GET, 3)],
            [hit(GET, b"1", opaque=1, cas=1) + res(QUIT, opaque=2) + EOF])
    # QuitQ: the replies before it are sent, then the close; no reply of its own
    bexpect(srv, [B.get(b"a", GET, 1) + req(QUITQ, opaque=2) + B.get(b"a", GET, 3)],
            [hit(GET, b"1", opaque=1, cas=1) + EOF])


# ---- Stats --------------------------------------------------------------------------

# Ours adds these (doc/protocol.md); they are dropped before comparing.
OUR_EXTRA_STATS = (b"write_timeouts", b"write_timeout", b"shutdown_timeout", b"read_buf_max",
                   b"eviction_policy", b"probation_items", b"probation_hits", b"main_hits",
                   b"probation_promoted", b"ghost_hits", b"evicted_probation", b"evicted_main",
                   b"evicted_slab_move", b"eviction_policy_bytes", b"number_probation",
                   b"ssl_handshake_timeout", b"hotkeys", b"hotkeys_sample", b"hotkeys_size",
                   b"output_buf_bytes", b"metrics_listen")


def restat(data, fn):
    """Rebuild the Stat replies in data through fn(key, value) -> (key,
    value) or None (dropped); other packets are kept."""
    pkts, rest = B.parse(data)
    out = []
    for p in pkts:
        if p.opcode == STAT and p.status == 0 and p.keylen:
            kv = fn(p.key, p.value)
            if kv is None:
                continue
            out.append(res(STAT, key=kv[0], value=kv[1], opaque=p.opaque, cas=p.cas,
                           extras=p.extras))
        else:
            out.append(p.raw)
    return b"".join(out) + rest


def stat_mask(replies):
    def fn(k, v):
        if (k in OUR_EXTRA_STATS or k.startswith(b"snapshot_") or
                re.sub(rb"^items:\d+:", b"", k) in OUR_EXTRA_STATS):
            return None
        k = re.sub(rb"^items:\d+:", b"items:<c>:", k)
        k = re.sub(rb"^\d+:", b"<c>:", k)
        return k, b"<v>"
    return [restat(r, fn) for r in B.mask_all(replies)]


def stat_names(reply):
    return [p.key for p in B.parse(reply)[0]]


def test_stats_general_framing_and_names(srv):
    # One packet per stat (key = name, value = text, opaque echoed, CAS
    # 0), then an empty packet that ends the group.
    r = bcompare_fn(srv, transcript([B.set_(b"a", b"1", quiet=True) + B.stat(b"", 0x51)]),
                    masker=stat_mask)[0]
    pkts, rest = B.parse(r)
    eq(rest, b"", "nothing but packets")
    check(len(pkts) > 60, "many stats")
    check(all(p.opaque == 0x51 and p.cas == 0 and p.extlen == 0 and p.status == 0
              and p.datatype == 0 for p in pkts), "stat packet fields")
    eq(pkts[-1].raw, res(STAT, opaque=0x51), "terminator")
    names = stat_names(r)
    eq(names[:4], [b"pid", b"uptime", b"time", b"version"], "first names")
    for n in (b"curr_connections", b"cmd_get", b"get_hits", b"auth_cmds", b"auth_errors",
              b"bytes", b"curr_items", b"evictions"):
        check(n in names, "stat %r present" % n)


def test_stats_groups(srv):
    bexpect(srv, [
        B.set_(b"a", b"1", quiet=True),
        B.stat(b"reset", 1), B.stat(b"resetxyz", 2),          # a prefix match
        B.stat(b"sizes", 3),
        B.stat(b"conns", 4), B.stat(b"bogus", 5), B.stat(b"items x", 6),
        B.stat(b"SETTINGS", 7), B.stat(b"detail", 8), B.stat(b"detail bogus", 9),
        B.stat(b"extstore", 10), B.stat(b"cachedump 1 1", 11),
        B.stat(b"detail on", 12), B.stat(b"detail dump", 13), B.stat(b"detail off", 14),
    ], [
        b"", res(STAT, opaque=1), res(STAT, opaque=2),
        res(STAT, key=b"sizes_status", value=b"<v>", opaque=3) + res(STAT, opaque=3),
        err(STAT, ENOENT, 4), err(STAT, ENOENT, 5), err(STAT, ENOENT, 6),
        err(STAT, ENOENT, 7), err(STAT, ENOENT, 8), err(STAT, ENOENT, 9),
        err(STAT, ENOENT, 10), err(STAT, ENOENT, 11),
        res(STAT, opaque=12),
        res(STAT, key=b"detailed", value=b"<v>", opaque=13) + res(STAT, opaque=13),
        res(STAT, opaque=14),
    ], masker=stat_mask)


def test_stats_detail_dump_text(srv):
    # "detail dump" is one Stat packet named "detailed" whose value is the
    # text protocol's dump (here empty: just END).
    bexpect(srv, [B.stat(b"detail dump", 1)],
            [res(STAT, key=b"detailed", value=b"END\r\n", opaque=1) + res(STAT, opaque=1)])


def test_stats_settings_items_slabs_names(srv):
    def fn(s):
        with s.connect() as c:
            B.transact(c, B.set_(b"a", b"1", quiet=True))
            return [B.transact(c, B.stat(g, 9)) for g in
                    (b"settings", b"settingsjunk", b"items", b"slabs")]
    got = bcompare_fn(srv, fn, masker=stat_mask)
    names = [stat_names(g) for g in got]
    eq(names[0], names[1], "settingsjunk is settings")
    check(names[0][:3] == [b"maxbytes", b"maxconns", b"tcpport"], "settings names")
    check(b"items:<c>:number" in names[2] and b"<c>:chunk_size" in names[3], "items/slabs")
    for g in got:
        check(g.endswith(res(STAT, opaque=9)), "terminated")


def test_stats_values_match_text_stats(srv):
    # The binary groups carry the text protocol's values.
    def fn(s):
        with s.connect() as c:
            B.transact(c, B.set_(b"a", b"1", flags=3, quiet=True))
            pk = B.parse(B.transact(c, B.stat(b"settings")))[0]
            with s.connect() as t:
                st = harness.stats(t, b"settings")[0]
            same = all(st.get(p.key.decode()) == p.value.decode() for p in pk if p.key)
            return [same, len(pk) - 1 == len(st)]
    o, r = run_both(fn, srv=srv)
    eq(r, [True, True], "reference")
    eq(o, r, "ours")


STAT_COUNTERS = (b"cmd_get", b"cmd_set", b"cmd_flush", b"cmd_touch", b"get_hits",
                 b"get_misses", b"get_flushed", b"delete_misses", b"delete_hits",
                 b"incr_misses", b"incr_hits", b"decr_misses", b"decr_hits", b"cas_misses",
                 b"cas_hits", b"cas_badval", b"touch_hits", b"touch_misses",
                 b"auth_cmds", b"auth_errors", b"store_too_large")
# (curr_items/total_items depend on background threads' timing: test_stats.py)


def test_stats_counters_after_binary_requests(srv):
    script = cat(
        B.set_(b"a", b"1"), B.set_(b"b", b"x", quiet=True), B.store(ADD, b"a", b"2"),
        B.store(REPLACE, b"zz", b"2"), req(APPEND, b"b", b"+"), req(APPENDQ, b"zz", b"+"),
        B.get(b"a"), B.get(b"zz", GETQ), B.get(b"a", GETKQ), B.get(b"zz", GETK),
        B.incr(b"n", 1, 5, 0), B.incr(b"n", 1), B.incr(b"zz", 1, 0, NO_CREATE),
        B.incr(b"n", 1, opcode=DECR), B.incr(b"zz", 1, 0, NO_CREATE, DECRQ),
        B.incr(b"b", 1), B.set_(b"a", b"3", cas=999999), B.set_(b"zz", b"3", cas=5),
        B.touch(b"a", 100), B.touch(b"zz", 100), B.touch(b"a", 100, GAT),
        B.touch(b"zz", 100, GATKQ), req(DELETE, b"b"), req(DELETE, b"b"),
        B.set_(b"big", b"x" * (2 << 20)), B.flush(5, FLUSHQ), B.noop())

    def fn(s):
        with s.connect() as c:
            B.transact(c, script)
            pk = B.parse(B.transact(c, B.stat()))[0]
            return {p.key: p.value for p in pk if p.key in STAT_COUNTERS}
    o, r = run_both(fn, srv=srv)
    eq(r[b"cmd_get"], b"4", "reference cmd_get (GAT counts as a touch)")
    eq(r[b"incr_misses"], b"1", "reference incr_misses (created items are not counted)")
    eq(o, r, "counters")


# ---- unknown opcodes ---------------------------------------------------------------

def test_unknown_opcodes(srv):
    ops = [VERBOSITY, 0x1f, 0x25, 0x2e, 0x30, 0x3c, 0x40, 0x7f, 0x80, 0x81, 0xfe, 0xff]
    # Verbosity (0x1b) is not served by 1.6.18's binary protocol.
    bexpect(srv, [req(op, opaque=op) for op in ops]
            + [req(0x40, b"", b"vvvvv", opaque=1) + B.get(b"k", GETK, 2)],
            [err(op, UNKNOWN, op) for op in ops]
            + [err(0x40, UNKNOWN, 1) + res(GETK, ENOENT, key=b"k", opaque=2)])


def test_unknown_opcode_with_key_or_extras_swallows_too_much(srv):
    # memcached consumes the header, extras and key, then swallows
    # `bodylen` more bytes: a request with a key or extras eats that many
    # bytes of what follows (here: padding that makes up for it).  A
    # deliberate difference: we skip exactly the body, so the stream stays
    # in sync without padding.
    tail = B.get(b"k", GETK, 4)
    want = [err(0x40, UNKNOWN, 1), err(VERBOSITY, UNKNOWN, 2), err(0x40, UNKNOWN, 3),
            res(GETK, ENOENT, key=b"k", opaque=4)]
    bdiffer(srv,
            [req(0x40, b"abc", opaque=1) + b"XYZ",
             req(VERBOSITY, extras=B.ext_exp(1), opaque=2) + b"PPPP",
             req(0x40, b"ab", b"vvv", b"eeee", opaque=3) + b"P" * 6, tail], want,
            [req(0x40, b"abc", opaque=1), req(VERBOSITY, extras=B.ext_exp(1), opaque=2),
             req(0x40, b"ab", b"vvv", b"eeee", opaque=3), tail], want)


def test_sasl_opcodes_without_S(srv):
    # Without -S the SASL opcodes are unknown (their value swallowed
    # correctly); SASL list with a body fails its length check first.
    bexpect(srv, [req(SASL_LIST, opaque=1), req(SASL_AUTH, b"PLAIN", b"\0u\0p", opaque=2),
                  req(SASL_STEP, b"PLAIN", b"xyz", opaque=3),
                  req(SASL_LIST, b"ab", b"cd", opaque=4)],
            [err(SASL_LIST, UNKNOWN, 1), err(SASL_AUTH, UNKNOWN, 2), err(SASL_STEP, UNKNOWN, 3),
             err(SASL_LIST, EINVAL, 4) + EOF])


# ---- malformed headers ----------------------------------------------------------------

def test_bad_magic_closes(srv):
    # Once a connection speaks binary, a header whose magic is not 0x80
    # closes it without a reply.
    for magic in (0x81, 0x00, 0x7f, 0xff, ord("g")):
        bexpect(srv, [B.noop(1), req(VERSION, magic=magic, opaque=2) + B.noop(3)],
                [res(NOOP, opaque=1), EOF])
    # A Noop flushes the replies before it; the close comes after.
    bexpect(srv, [B.noop(1) + b"\x00" * 24], [res(NOOP, opaque=1) + EOF])


def test_lengths_that_disagree_close(srv):
    # extlen + keylen > bodylen: "Unknown command", then close -- for any
    # opcode, before anything else is checked.
    for r in (req(GET, b"abc", bodylen=2, opaque=3), req(SET, b"abc", extras=B.ext_set(),
                                                           bodylen=3, opaque=3),
              req(0x40, extras=b"1234", bodylen=0, opaque=3),
              req(NOOP, b"k", bodylen=0, opaque=3), req(GET, b"a" * 300, bodylen=299, opaque=3)):
        op = r[1]
        bexpect(srv, [B.set_(b"s", b"1", opaque=1) + r], [res(SET, opaque=1, cas=1)
                                                          + err(op, UNKNOWN, 3) + EOF])
        bexpect(srv, [req(DELETE, b"s")], [res(DELETE)])


INVALID = [
    # (request, why) -- each gets "Invalid arguments" then the close
    (req(GET, b"abc", extras=b"1234"), "get with extras"),
    (req(GET, b"abc", b"v"), "get with a value"),
    (req(GETK, b""), "getk without key"),
    (req(GETKQ, b"", b"", b"1234"), "getkq with extras"),
    (req(SET, b"a", b"v", extras=b"1234"), "set with 4 bytes of extras"),
    (req(SET, b"", b"v", extras=B.ext_set()), "set without key"),
    (req(ADDQ, b"a", b"v"), "addq without extras"),
    (req(REPLACE, b"a", b"v", extras=b"x" * 255), "replace with 255 bytes of extras"),
    (req(DELETE, b"a", extras=b"1234"), "delete with extras"),
    (req(DELETE, b"a", b"v"), "delete with a value"),
    (req(DELETEQ, b""), "deleteq without key"),
    (req(INCR, b"a", extras=b"12345678"), "incr with 8 bytes of extras"),
    (req(DECR, b"a", b"v", extras=B.ext_incr()), "decr with a value"),
    (req(INCRQ, b"", extras=B.ext_incr()), "incrq without key"),
    (req(APPEND, b"a", b"v", extras=b"1234"), "append with extras"),
    (req(PREPEND, b"", b"v"), "prepend without key"),
    (req(TOUCH, b"a"), "touch without extras"),
    (req(TOUCH, b"", extras=B.ext_exp(1)), "touch without key"),
    (req(GATKQ, b"a", extras=b"12345678"), "gatkq with 8 bytes of extras"),
    (req(NOOP, b"a"), "noop with a key"),
    (req(NOOP, b"", b"a"), "noop with a value"),
    (req(VERSION, b"", b"", b"1234"), "version with extras"),
    (req(QUIT, b"a"), "quit with a key"),
    (req(QUITQ, b"", b"a"), "quitq with a value"),
    (req(FLUSH, extras=b"12345678"), "flush with 8 bytes of extras"),
    (req(FLUSH, b"k"), "flush with a key"),
    (req(FLUSHQ, b"", b"v"), "flushq with a value"),
    (req(FLUSH, b"", b"v", B.ext_exp(1)), "flush with extras and a value"),
    (req(STAT, b"", extras=b"1234"), "stat with extras"),
    (req(SASL_LIST, b"", b"x"), "sasl list with a value"),
    (req(SASL_AUTH, b"", b"xx"), "sasl auth without key"),
    (req(SASL_STEP, b"PLAIN", b"xx", extras=b"1"), "sasl step with extras"),
]


def test_invalid_arguments_close(srv):
    # One connection per case (each is closed by its error); the Set
    # before it shows that earlier replies are still sent.
    for r, why in INVALID:
        r = r[:12] + struct.pack(">I", 0xabcd) + r[16:]          # opaque
        try:
            bexpect(srv, [B.set_(b"s", b"1", opaque=1) + r],
                    [res(SET, opaque=1, cas=1) + err(r[1], EINVAL, 0xabcd) + EOF])
        except TestFailure as e:
            raise TestFailure("%s: %s" % (why, e))
        bexpect(srv, [req(DELETE, b"s")], [res(DELETE)])


def test_value_bytes_after_touch_or_stat_are_the_next_request(srv):
    # Touch, GAT and Stat do not check bodylen against extlen+keylen, and
    # memcached does not consume the surplus: it is parsed as the next
    # request.  A deliberate difference: we answer the same and skip the
    # surplus (it belongs to the packet), so it never runs as a request.
    chunks = [
        B.set_(b"g", b"gg", flags=1, quiet=True),
        req(TOUCH, b"g", B.noop(7), B.ext_exp(100), opaque=1),
        req(GAT, b"g", B.get(b"g", GETK, 8), B.ext_exp(100), opaque=2),
        req(STAT, b"sizes", req(VERSION, opaque=9), opaque=3),
    ]
    bdiffer(srv, chunks, [
        b"",
        res(TOUCH, extras=b"\0\0\0\1", opaque=1, cas=1) + res(NOOP, opaque=7),
        hit(GAT, b"gg", 1, opaque=2, cas=1) + hit(GETK, b"gg", 1, b"g", 8, 1),
        res(STAT, key=b"sizes_status", value=b"disabled", opaque=3) + res(STAT, opaque=3)
        + res(VERSION, value=b"<v>", opaque=9),
    ], chunks, [
        b"",
        res(TOUCH, extras=b"\0\0\0\1", opaque=1, cas=1),
        hit(GAT, b"gg", 1, opaque=2, cas=1),
        res(STAT, key=b"sizes_status", value=b"disabled", opaque=3) + res(STAT, opaque=3),
    ])


def test_key_too_long(srv):
    k250, k251 = b"a" * 250, b"b" * 251
    bexpect(srv, [B.set_(k250, b"v", opaque=1) + B.get(k250, GETK, 2)],
            [res(SET, opaque=1, cas=1) + hit(GETK, b"v", key=k250, opaque=2, cas=1)])
    for r in (B.get(k251, GET, 3), B.get(k251, GETKQ, 3), B.set_(k251, b"v", opaque=3),
              req(DELETE, k251, opaque=3), B.incr(k251, 1, opaque=3),
              B.touch(k251, 1, GAT, 3), req(APPENDQ, k251, b"v", opaque=3),
              B.get(b"c" * 3000, GETQ, 3), B.get(b"d" * 16360, GET, 3),
              req(GET, b"e" * 16340, extras=b"x" * 20, opaque=3)):
        bexpect(srv, [B.noop(1), r], [res(NOOP, opaque=1), err(r[1], EINVAL, 3) + EOF])


def test_key_larger_than_the_read_buffer_closes_silently(srv):
    # header + extras + key above 16384 bytes: closed without a reply.
    for r in (B.get(b"a" * 16361, GET, 3), req(GET, b"e" * 16341, extras=b"x" * 20, opaque=3),
              B.get(b"a" * 65535, GETQ, 3), req(0x40, b"a" * 20000, opaque=3)):
        bexpect(srv, [B.noop(1), r], [res(NOOP, opaque=1), EOF])


# Largest value the reference stores under key "big" with flags 0 (-I 1m).
MAX_VAL_BIG_KEY = 1048514


def test_value_too_large(srv):
    m = MAX_VAL_BIG_KEY
    bexpect(srv, [
        B.set_(b"big", b"a" * m, opaque=1),
        B.set_(b"big", b"b" * (m + 1), opaque=2) + B.get(b"big", GET, 3),   # old value gone
        B.set_(b"big", b"c" * (m - 4), flags=1, opaque=4),
        B.set_(b"big", b"c" * (m - 3), flags=1, opaque=5),
        B.set_(b"q", b"x" * (2 << 20), opaque=6, quiet=True),
        B.store(ADD, b"q", b"x" * (2 << 20), opaque=7),
        B.store(REPLACEQ, b"q", b"x" * (2 << 20), opaque=8),
        req(APPEND, b"q", b"x" * (2 << 20), opaque=9),
        req(PREPENDQ, b"q", b"x" * (2 << 20), opaque=10) + B.get(b"big", GETK, 11),
        # only a too-large Set deletes the old value
        cat(B.set_(b"r", b"1", quiet=True), B.store(REPLACE, b"r", b"x" * (2 << 20), opaque=12),
            B.store(ADDQ, b"r", b"x" * (2 << 20), opaque=13),
            req(APPEND, b"r", b"x" * (2 << 20), opaque=14), B.get(b"r", GETK, 15)),
    ], [
        res(SET, opaque=1, cas=1),
        err(SET, E2BIG, 2) + err(GET, ENOENT, 3),
        res(SET, opaque=4, cas=2),
        err(SET, E2BIG, 5),
        err(SETQ, E2BIG, 6), err(ADD, E2BIG, 7), err(REPLACEQ, E2BIG, 8),
        err(APPEND, E2BIG, 9), err(PREPENDQ, E2BIG, 10) + res(GETK, ENOENT, key=b"big",
                                                             opaque=11),
        cat(err(REPLACE, E2BIG, 12), err(ADDQ, E2BIG, 13), err(APPEND, E2BIG, 14),
            hit(GETK, b"1", key=b"r", opaque=15, cas=3)),
    ])


def test_value_too_large_reply_waits_for_the_value(srv):
    # memcached sends "Too large." only once the whole value is swallowed.
    # A deliberate difference (as in the text protocol): we answer at
    # once, then swallow the value; the stream stays in sync either way.
    big = B.set_(b"k", b"x" * (2 << 20), opaque=1)

    def fn(s):
        with s.connect() as c:
            c.send(big[:-1000])
            early = c.read_for(0.3)
            c.send(big[-1000:])
            return [early, B.finish(c)]
    o, r = run_both(fn, srv=srv)
    beq(B.mask_all(r), [b"", err(SET, E2BIG, 1)], "reference transcript")
    beq(B.mask_all(o), [err(SET, E2BIG, 1), b""], "our transcript")


def test_huge_bodylen(srv):
    def fn(s):
        outs = []
        # a Set announcing a 2 GB value: memcached waits for it silently;
        # we answer "Too large." at once (and swallow what comes)
        with s.connect() as c:
            c.send(req(SET, b"k", extras=B.ext_set(), bodylen=0x7fffffff, opaque=1)
                   + B.noop(2))
            outs.append(c.read_for(0.5) + (EOF if c.eof else b""))
        with s.connect() as c:
            c.send(req(APPEND, b"k", bodylen=0x7ffffff0, opaque=1) + B.noop(2))
            outs.append(c.read_for(0.5) + (EOF if c.eof else b""))
        with s.connect() as c:
            outs.append(B.transact(c, req(GET, b"k", bodylen=0xffffffff, opaque=3)))
        with s.connect() as c:
            outs.append(B.transact(c, req(DELETE, b"k", bodylen=0x10000000, opaque=4)))
        return outs
    o, r = run_both(fn, srv=srv)
    tail = [err(GET, EINVAL, 3) + EOF, err(DELETE, EINVAL, 4) + EOF]
    beq(B.mask_all(r), [b"", b""] + tail, "reference transcript")
    beq(B.mask_all(o), [err(SET, E2BIG, 1), err(APPEND, E2BIG, 1)] + tail, "our transcript")


def test_out_of_memory_with_M():
    # -M: "Out of memory allocating item" (status 0x82), the value is
    # swallowed, the connection stays in sync.  Ours fits more items, so
    # the first failure and what follows are compared.
    val = b"v" * 100000

    def fn(s):
        with s.connect() as c:
            # (stored first: which classes still have room once memory is
            # full depends on the slab layout, which differs)
            B.transact(c, B.set_(b"small", b"x", opaque=0, quiet=True))
            for i in range(400):
                r = B.transact(c, B.set_(b"k%d" % i, val, opaque=i))
                if B.parse(r)[0][0].status != 0:
                    break
            first = r[:16] + struct.pack(">Q", 0) + r[24:]          # opaque: index
            first = first[:12] + b"\0\0\0\0" + first[16:]
            after = B.transact(c, cat(B.set_(b"k%d" % (i + 1), val, opaque=1, quiet=True),
                                      B.store(ADD, b"new", val, opaque=2),
                                      B.get(b"small", GET, 4), B.get(b"k0", GETK, 5)))
            # a Set that fails for memory deletes the key's old value (an
            # Append does not)
            old = B.transact(c, cat(req(APPEND, b"k1", val, opaque=6), B.get(b"k1", GETQ, 7),
                                    B.set_(b"k1", val, opaque=8), B.get(b"k1", GETK, 9)))
            return [first, after, restat_cas0(old)]
    with pair(["-M", "-m", "8"]) as srv:
        got = bcompare_fn(srv, fn)
    beq(got, [err(SET, ENOMEM, 0),
              cat(err(SETQ, ENOMEM, 1), err(ADD, ENOMEM, 2), hit(GET, b"x", opaque=4, cas=1),
                  hit(GETK, val, key=b"k0", opaque=5, cas=2)),
              cat(err(APPEND, ENOMEM, 6), hit(GETQ, val, opaque=7), err(SET, ENOMEM, 8),
                  res(GETK, ENOENT, key=b"k1", opaque=9))], "reference transcript")


# ---- transport: splits, pipelines, large values -------------------------------------------

SPLIT_BATCH = cat(
    B.set_(b"a", b"hello", flags=3, opaque=1), B.get(b"a", GETK, 2),
    B.incr(b"n", 2, 10, 0, opaque=3), B.incr(b"n", 2, 10, 0, opaque=4),
    req(APPEND, b"a", b"!", opaque=5), B.get(b"a", GETKQ, 6), B.get(b"zz", GETKQ, 7),
    B.touch(b"a", 100, GAT, 8), B.store(ADDQ, b"a", b"x", opaque=9),
    req(DELETE, b"a", opaque=10), req(0x40, b"", b"xyz", opaque=11),
    B.set_(b"v", b"x" * 3000, opaque=12, quiet=True), B.get(b"v", GET, 13),
    B.stat(b"sizes", 14), req(VERSION, opaque=15), B.noop(16))


def test_requests_split_at_every_byte(srv):
    # The whole batch sent one byte per send(), against the reference
    # given the batch in one send().
    def whole(s):
        with s.connect() as c:
            return [B.transact(c, SPLIT_BATCH)]

    def bytewise(s):
        with s.connect() as c:
            B.send_split(c, SPLIT_BATCH, pause=0.0005, every=4)
            return [B.finish(c, timeout=20)]
    o1, r1 = run_both(whole, srv=srv)
    with pair() as srv2:
        o2, r2 = run_both(bytewise, srv=srv2)
    m = B.mask_all
    beq(m(r2), m(r1), "reference byte by byte vs whole")
    beq(m(o1), m(r1), "ours whole vs reference")
    beq(m(o2), m(r1), "ours byte by byte vs reference")
    pk = B.parse(r1[0])[0]
    eq([p.opaque for p in pk], [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 14, 15, 16],
       "reference reply opaques")


def test_every_two_way_split(srv):
    batch = cat(B.set_(b"a", b"abc", flags=1, opaque=1), B.get(b"a", GETK, 2),
                B.incr(b"n", 1, 5, 0, opaque=3), B.get(b"zz", GETQ, 4), B.noop(5))

    def fn(s):
        outs = []
        for cut in range(1, len(batch)):
            with s.connect() as c:
                c.send(batch[:cut])
                time.sleep(0.002)
                outs.append(B.transact(c, batch[cut:] + B.flush(opcode=FLUSHQ)))
        return outs
    got = bcompare_fn(srv, fn, masker=lambda rs: [B.mask(r) for r in rs])
    want = cat(res(SET, opaque=1, cas=1), hit(GETK, b"abc", 1, b"a", 2, 1),
               num(INCR, 5, 3, 2), res(NOOP, opaque=5))
    for i, g in enumerate(got):
        beq([g], [want], "reply with the batch cut at byte %d" % (i + 1))


def test_large_values_and_long_pipeline(srv):
    sizes = [0, 1, 100, 4000, 16384, 100000, 500000, 1000000]
    setup = b"".join(B.set_(b"s%d" % n, bytes([65 + i]) * n, flags=n, quiet=True)
                     for i, n in enumerate(sizes))
    gets = b"".join(B.get(b"s%d" % n, GETKQ, i) for i, n in enumerate(sizes)) + B.noop(99)
    many = b"".join(B.set_(b"m%d" % i, b"%d" % i, quiet=True) for i in range(500)) \
        + b"".join(B.get(b"m%d" % i, GETKQ, 1000 + i) for i in range(0, 500, 7)) + B.noop(2000)
    want_gets = b"".join(hit(GETKQ, bytes([65 + i]) * n, n, b"s%d" % n, i, i + 1)
                         for i, n in enumerate(sizes)) + res(NOOP, opaque=99)
    want_many = b"".join(hit(GETKQ, b"%d" % i, key=b"m%d" % i, opaque=1000 + i, cas=0)
                         for i in range(0, 500, 7)) + res(NOOP, opaque=2000)
    got = bcompare_fn(srv, transcript([setup, gets, many]),
                      masker=lambda rs: [B.mask(r, {}) for r in rs[:2]]
                      + [restat_cas0(rs[2])])
    beq(got, [b"", want_gets, want_many], "reference replies")


def restat_cas0(data):
    """Zero every CAS field (for a reply whose CAS values are compared
    elsewhere)."""
    pkts, rest = B.parse(data)
    return b"".join(p.raw[:16] + b"\0" * 8 + p.raw[24:] for p in pkts) + rest


def test_binary_and_text_share_items(srv):
    def fn(s):
        with s.connect() as b, s.connect() as t:
            outs = [B.transact(b, B.set_(b"k", b"bin\r\nval", flags=5, quiet=True)),
                    harness.mask_cas(harness.transact(t, b"gets k\r\nset t 9 0 4\r\ntext\r\n"
                                                         b"incr n 1\r\n")),
                    B.transact(b, B.get(b"t", GETK, 1) + B.incr(b"t", 1, opaque=2))]
            outs.append(harness.transact(t, b"get k t\r\n"))
            return outs
    o, r = run_both(fn, srv=srv)
    want = [b"", b"VALUE k 5 8 <CAS>\r\nbin\r\nval\r\nEND\r\nSTORED\r\nNOT_FOUND\r\n",
            hit(GETK, b"text", 9, b"t", 1, 1) + err(INCR, DELTA_BADVAL, 2),
            b"VALUE k 5 8\r\nbin\r\nval\r\nVALUE t 9 4\r\ntext\r\nEND\r\n"]
    mr = [r[0], r[1], B.mask(r[2]), r[3]]
    mo = [o[0], o[1], B.mask(o[2]), o[3]]
    beq(mr[2:3], want[2:3], "reference binary reply")
    eq([mr[0], mr[1], mr[3]], [want[0], want[1], want[3]], "reference text replies")
    eq(mo, mr, "ours")


# ---- -B ascii | binary | auto -------------------------------------------------------------

def _raw(data, wait=0.5):
    """fn(server): send raw bytes, read what comes within `wait` s."""
    def fn(s):
        with s.connect() as c:
            c.send(data)
            out = c.read_for(wait)
            return [out + (EOF if c.eof else b"")]
    return fn


def test_B_auto_first_byte_decides(srv):
    # -B auto (the default): a connection whose first byte is 0x80 speaks
    # binary for good, anything else text for good.
    cases = [
        (b"\x81" + b"\0" * 23 + b"\r\n", [b"ERROR\r\n"]),           # 0x81: text
        (b"version\r\n" + req(VERSION) + b"\r\n", [b"VERSION <v>\r\nERROR\r\n"]),
        # (the Noop makes the Version reply go out before the close; without
        # it 1.6.18 drops the replies of the read that holds the bad packet)
        (req(VERSION, opaque=1) + B.noop(2) + b"version\r\n" + b"x" * 15,
         [res(VERSION, value=b"<v>", opaque=1) + res(NOOP, opaque=2) + EOF]),
        (b"\x80version\r\n", [b""]),                                 # waits for 24 bytes
    ]
    for data, want in cases:
        got = bcompare_fn(srv, _raw(data), masker=lambda rs: [
            re.sub(rb"VERSION [^\r\n]+\r\n", b"VERSION <v>\r\n", B.mask(x)) for x in rs])
        beq(got, want, "reply to %r" % data[:30])


def test_B_binary_refuses_text():
    # -B binary: text is a bad magic byte: closed once 24 bytes are in,
    # without a reply; fewer bytes wait.
    with pair(["-B", "binary"]) as srv:
        bexpect(srv, [req(VERSION, opaque=1) + B.get(b"k", GETK, 2)],
                [res(VERSION, value=b"<v>", opaque=1) + res(GETK, ENOENT, key=b"k", opaque=2)])
        for data, want in ((b"get aaaaaaaaaaaaaaaaaaaaa\r\n", EOF), (b"version\r\n", b""),
                           (b"version\r\n" + b"\r\n" * 8, EOF)):
            got = bcompare_fn(srv, _raw(data))
            beq(got, [want], "reply to %r" % data)


def test_B_ascii_takes_binary_for_text():
    # -B ascii: a binary request is a text line (ERROR once a \n byte
    # arrives); Noop's opcode is 0x0a, a newline.
    with pair(["-B", "ascii"]) as srv:
        harness.expect(srv, [req(VERSION) + b"\r\n", req(GET, b"k") + b"\r\n",
                             B.noop() + b"\r\n", b"get a\r\n"],
                       [b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\nERROR\r\n", b"END\r\n"])


# ---- SASL (-S) ---------------------------------------------------------------------------

SASL_USER, SASL_PASS = b"testuser", b"secret"
PLAIN_OK = b"\0" + SASL_USER + b"\0" + SASL_PASS
AUTH = req(SASL_AUTH, b"PLAIN", PLAIN_OK, opaque=0xa0)
AUTHED = res(SASL_AUTH, value=b"Authenticated", opaque=0xa0)


@contextlib.contextmanager
def sasl_env(mechs="plain cram-md5"):
    """A temporary SASL setup (sasl_setup.sasldb: a memcached.conf naming
    a fresh sasldb holding testuser/secret), found through SASL_CONF_PATH,
    which is set in os.environ meanwhile.  Yields the directory."""
    old = os.environ.get("SASL_CONF_PATH")
    with sasl_setup.sasldb(SASL_USER.decode(), SASL_PASS.decode(), mechs) as env:
        try:
            os.environ["SASL_CONF_PATH"] = env["SASL_CONF_PATH"]
            yield env["SASL_CONF_PATH"]
        finally:
            if old is None:
                os.environ.pop("SASL_CONF_PATH", None)
            else:
                os.environ["SASL_CONF_PATH"] = old


@contextlib.contextmanager
def sasl_pair(mechs="plain cram-md5"):
    with sasl_env(mechs):
        with pair(["-S"]) as srv:
            yield srv


def sexpect(srv, chunks, want):
    """bexpect with the Version sentinel (allowed before authentication)."""
    return bexpect(srv, chunks, want, sentinel=VERSION)


def test_sasl_list_and_plain_auth():
    with sasl_pair() as srv:
        sexpect(srv, [req(SASL_LIST, opaque=1), req(VERSION, opaque=2), AUTH,
                      B.set_(b"k", b"v", opaque=3) + B.get(b"k", GETK, 4) + B.noop(5)],
                [res(SASL_LIST, value=b"PLAIN CRAM-MD5", opaque=1),
                 res(VERSION, value=b"<v>", opaque=2), AUTHED,
                 res(SET, opaque=3, cas=1) + hit(GETK, b"v", key=b"k", opaque=4, cas=1)
                 + res(NOOP, opaque=5)])
        # mechanism names are case-insensitive; PLAIN's authzid may be the user
        sexpect(srv, [req(SASL_AUTH, b"plain", PLAIN_OK, opaque=0xa0)], [AUTHED])
        sexpect(srv, [req(SASL_AUTH, b"PLAIN", SASL_USER + PLAIN_OK, opaque=0xa0)], [AUTHED])


def test_sasl_commands_before_auth_fail_and_close():
    with sasl_pair() as srv:
        for r in (B.noop(1), B.get(b"k", GET, 1), B.get(b"k", GETQ, 1), req(0x40, opaque=1),
                  B.stat(b"", 1), B.set_(b"k", b"v", opaque=1, quiet=True), B.flush(opaque=1),
                  B.get(b"a" * 300, GET, 1), req(QUITQ, opaque=1)):
            sexpect(srv, [r], [err(r[1], AUTH_ERROR, 1) + EOF])
        # the length check comes first
        sexpect(srv, [req(GET, b"abc", bodylen=1, opaque=1)], [err(GET, UNKNOWN, 1) + EOF])


def test_sasl_failed_auth_keeps_the_connection():
    with sasl_pair() as srv:
        sexpect(srv, [req(SASL_AUTH, b"PLAIN", b"\0testuser\0nope", opaque=1),
                      req(SASL_AUTH, b"PLAIN", b"\0nobody\0secret", opaque=2),
                      req(SASL_AUTH, b"PLAIN", b"other\0testuser\0secret", opaque=3),
                      req(SASL_AUTH, b"FOO", b"x", opaque=4),
                      req(SASL_AUTH, b"P" * 32, b"xx", opaque=5),
                      req(SASL_STEP, b"PLAIN", PLAIN_OK, opaque=6),       # no start yet
                      req(SASL_AUTH, b"P" * 33, b"xx", opaque=7),         # value swallowed
                      AUTH, B.get(b"k", GETK, 8)],
                [err(SASL_AUTH, AUTH_ERROR, 1), err(SASL_AUTH, AUTH_ERROR, 2),
                 err(SASL_AUTH, AUTH_ERROR, 3), err(SASL_AUTH, AUTH_ERROR, 4),
                 err(SASL_AUTH, AUTH_ERROR, 5), err(SASL_STEP, AUTH_ERROR, 6),
                 err(SASL_AUTH, EINVAL, 7), AUTHED, res(GETK, ENOENT, key=b"k", opaque=8)])


def test_sasl_plain_in_two_steps():
    # PLAIN with an empty first message: "continue" (0x21, empty value),
    # then the credentials in a SASL step.
    with sasl_pair() as srv:
        sexpect(srv, [req(SASL_AUTH, b"PLAIN", b"", opaque=1),
                      req(SASL_STEP, b"PLAIN", PLAIN_OK, opaque=2), B.get(b"k", GET, 3)],
                [res(SASL_AUTH, AUTH_CONTINUE, opaque=1),
                 res(SASL_STEP, value=b"Authenticated", opaque=2), err(GET, ENOENT, 3)])


def test_sasl_cram_md5_step():
    import hashlib
    import hmac

    def fn(s):
        with s.connect() as c:
            a = B.transact(c, req(SASL_AUTH, b"CRAM-MD5", b"", opaque=1), sentinel=VERSION)
            p = B.parse(a)[0][0]
            ok = re.fullmatch(rb"<\d+\.\d+@[^>]+>", p.value) is not None
            dig = hmac.new(SASL_PASS, p.value, hashlib.md5).hexdigest().encode()
            masked = res(p.opcode, p.status, opaque=p.opaque, value=b"<challenge>")
            b = B.transact(c, req(SASL_STEP, b"CRAM-MD5", SASL_USER + b" " + dig, opaque=2)
                           + B.get(b"k", GETK, 3), sentinel=VERSION)
            return [masked, b, b"challenge ok" if ok else p.value]
    with sasl_pair() as srv:
        got = bcompare_fn(srv, fn)
    beq(got[:2], [res(SASL_AUTH, AUTH_CONTINUE, value=b"<challenge>", opaque=1),
                  res(SASL_STEP, value=b"Authenticated", opaque=2)
                  + res(GETK, ENOENT, key=b"k", opaque=3)], "reference transcript")
    eq(got[2], b"challenge ok", "challenge format")


def test_sasl_reauth_and_list_drop_authentication():
    # Any SASL list/auth/step on an authenticated connection drops the
    # authentication first: a second (correct) PLAIN auth fails, and so
    # does everything after it.
    with sasl_pair() as srv:
        sexpect(srv, [AUTH, req(SASL_LIST, opaque=1), B.get(b"k", GET, 2)],
                [AUTHED, res(SASL_LIST, value=b"PLAIN CRAM-MD5", opaque=1),
                 err(GET, AUTH_ERROR, 2) + EOF])
        sexpect(srv, [AUTH, AUTH, B.get(b"k", GET, 2)],
                [AUTHED, err(SASL_AUTH, AUTH_ERROR, 0xa0), err(GET, AUTH_ERROR, 2) + EOF])
        sexpect(srv, [AUTH, req(SASL_AUTH, b"PLAIN", b"\0testuser\0bad", opaque=1),
                      B.get(b"k", GET, 2)],
                [AUTHED, err(SASL_AUTH, AUTH_ERROR, 1), err(GET, AUTH_ERROR, 2) + EOF])


def test_sasl_refuses_text():
    # -S implies -B binary: text closes once 24 bytes are in, before and
    # after authentication.
    with sasl_pair() as srv:
        for data in (b"version\r\n" * 3, b"get k\r\n" + b"x" * 30):
            beq(bcompare_fn(srv, _raw(data)), [EOF], "reply to %r" % data)
        beq(bcompare_fn(srv, _raw(AUTH + B.noop(1) + b"get k\r\n" + b"x" * 30)),
            [AUTHED + res(NOOP, opaque=1) + EOF], "text after auth")


def test_sasl_auth_counters():
    def fn(s):
        with s.connect() as c:
            for r in (AUTH, req(SASL_AUTH, b"PLAIN", b"\0testuser\0bad"),
                      req(SASL_AUTH, b"FOO", b"x"), req(SASL_AUTH, b"PLAIN", b""), AUTH):
                B.transact(c, r, sentinel=VERSION)
            with s.connect() as d:
                B.transact(d, AUTH, sentinel=VERSION)
                pk = B.parse(B.transact(d, B.stat()))[0]
            return [{p.key: p.value for p in pk if p.key.startswith(b"auth_")}]
    with sasl_pair() as srv:
        o, r = run_both(fn, srv=srv)
    # counted: each success and failure (auth_errors: the failures), not a
    # "continue"; the AUTH after the "continue" starts over and succeeds
    eq(r, [{b"auth_cmds": b"5", b"auth_errors": b"2"}], "reference")
    eq(o, r, "ours")


def test_sasl_settings_stats():
    def fn(s):
        with s.connect() as c:
            B.transact(c, AUTH, sentinel=VERSION)
            pk = B.parse(B.transact(c, B.stat(b"settings")))[0]
            return [{p.key: p.value for p in pk
                     if p.key in (b"binding_protocol", b"auth_enabled_sasl")}]
    with sasl_pair() as srv:
        o, r = run_both(fn, srv=srv)
    eq(r, [{b"binding_protocol": b"binary", b"auth_enabled_sasl": b"yes"}], "reference")
    eq(o, r, "ours")


def _start_rc(binary, args):
    """Exit status of a server started with args that it must refuse
    (None if it kept running for 5 s; then it is killed)."""
    port = harness.free_port()
    cmd = [binary, "-l", harness.HOST, "-p", str(port)]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    p = subprocess.Popen(cmd + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        _, errout = p.communicate(timeout=5 * harness.TIME_SCALE)
        return p.returncode, errout
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate(timeout=5)
        return None, b""


def test_sasl_refuses_ascii_and_udp_options():
    with sasl_env():
        udp = str(harness.free_port())
        cases = (["-S", "-U", "0", "-B", "ascii"], ["-S", "-U", "0", "-B", "auto"],
                 ["-S", "-U", udp])
        ref = [_start_rc(harness.REF_BIN, a) for a in cases]
        ours = [_start_rc(harness.MC_BIN, a) for a in cases]
    eq([rc for rc, _ in ref], [64, 64, 64], "reference exit codes")
    check(b"ASCII protocol" in ref[0][1] and b"UDP" in ref[2][1], "reference messages")
    # every refused option exits 1 here (doc/protocol.md); same messages
    eq([rc for rc, _ in ours], [1, 1, 1], "our exit codes")
    check(b"ASCII protocol" in ours[0][1] and b"ASCII protocol" in ours[1][1] and
          b"UDP" in ours[2][1], "our messages %r" % ([e for _, e in ours],))


def test_sasl_with_bmemcached_client():
    # The recipe with a real client (Debian's python3-binary-memcached):
    # the right password works, a wrong one is refused with 0x20.
    try:
        import bmemcached
    except ImportError:
        raise TestFailure("python3-binary-memcached missing (apt-get install "
                          "python3-binary-memcached; run with Debian's /usr/bin/python3)")

    def fn(s):
        addr = ["%s:%d" % (harness.HOST, s.port)]
        good = bmemcached.Client(addr, SASL_USER.decode(), SASL_PASS.decode())
        try:
            out = [good.set("k", "v"), good.get("k"), good.incr("n", 1) if good.set("n", 5)
                   else None]
        finally:
            good.disconnect_all()
        bad = bmemcached.Client(addr, SASL_USER.decode(), "wrong")
        try:
            bad.set("k", "w")
            out.append("no error")
        except Exception as e:          # bmemcached raises MemcachedException
            out.append(e.args[0] if e.args else repr(e))
        finally:
            bad.disconnect_all()
        return out
    with sasl_pair() as srv:
        o, r = run_both(fn, srv=srv)
    eq(r, [True, "v", 6, "Code: 32 Message: b'Auth failure.'"], "reference")
    eq(o, r, "ours")
