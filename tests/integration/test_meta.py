"""Meta protocol: mg ms md ma mn me, alone and mixed with the classic
commands, byte for byte.

Which memcached we follow: 1.6.18 (Debian's, the live reference) wherever
1.6.18 has the behaviour; memcached 1.6.45 for what only 1.6.45 has (the E
flag on mg/ms/md/ma, `ms s`, append/prepend-mode `N` on ms, `md x`, `mg C`
with `v` answering HD when the CAS matches, and x and E accepted as flag
letters by every command).  P and L tokens are accepted and ignored by
every command.

Two kinds of test:

- compared live with 1.6.18 (compare/expect/compare_fn): both servers get
  the same bytes, the replies must be identical after masking, and the
  reference's bytes are pinned too.  CAS values are masked by behaviour:
  `meta_mask` renames every CAS number (`c` tokens, `cas=` of `me`, the
  unique of `gets`) to `<1>`, `<2>`, ... in order of first appearance, so
  "same item, same CAS" and "new CAS after a write" are still compared;
  0 and numbers >= 1000000 (set with E) stay literal.  `cls=` and `size=`
  of `me` are masked (our items are smaller, doc/protocol.md).
- pinned to 1.6.45's bytes, checked against our server only (1.6.18
  rejects these flags): the tests named test_v1645_*.  Every literal in
  them was verified by running them with
  MC_BIN=/work/shared/reference/memcached-1.6.45 (they fail with
  MC_BIN=/usr/bin/memcached, as they must).

1.6.18-compared tests that fail with MC_BIN=memcached-1.6.45 because 1.6.45
answers differently there (we follow 1.6.18; each difference is noted beside
its expectation):
  test_mn (a line ended by LF alone)
  test_mg_flag_errors (+ flag, M without a mode, mg without a key)
  test_mg_base64_keys (overlong key on ms: data swallowed)
  test_ms_modes (M without a mode, MSS)
  test_ms_errors (bad data chunk tail, F4294967296, 2^32+1 length,
                  overlong key, ms without a key)
  test_md_basic (error wording, md without a key)
  test_ma_basic (q on a miss created by N)
  test_ma_errors (M alone, MII)
  test_me (exp sign, me with b)
  test_pipeline_with_errors_in_the_middle (bad data chunk tail)
  test_meta_commands_in_stats (get_flushed)
  test_q_and_noreply_with_flush_all (q on a miss created by N)
  test_flag_tokens_checked_by_every_command (md's messages name the problem)
  test_which_flag_error_is_reported (the same)
  test_flag_numbers_read_as_1618 ("-0" and white space after a number
                                  refused)
  test_options_flags_too_long (the limit is one token higher)
  test_base64_keys_decoded_as_1618 (me with b: EN, as in test_me)
Run the pinned ones alone with: run.sh -k v1645.
"""

import re
import threading
import time

from harness import (check, compare_fn, eq, expect, pair, run_both, server, stats,
                     transact)

# ---- masking and helpers ---------------------------------------------------

_CODES = {b"HD", b"VA", b"EN", b"NS", b"EX", b"NF"}
KEEP_CAS_FROM = 1000000   # CAS values set with E are written this large
SEP = b"--\r\n"           # separates the replies of a scripted transcript


def meta_mask(data):
    """Rename CAS numbers by first appearance (see the module docstring);
    data blocks of VA/VALUE replies are skipped, never rewritten."""
    names = {}

    def name(num):
        if num == b"0" or int(num) >= KEEP_CAS_FROM:
            return num
        return names.setdefault(num, b"<%d>" % (len(names) + 1))

    out = []
    i, n = 0, len(data)
    while i < n:
        j = data.find(b"\r\n", i)
        if j < 0:
            out.append(data[i:])
            break
        line, i = data[i:j], j + 2
        w = line.split(b" ")
        skip = 0
        if w[0] in _CODES:
            first = 1
            if w[0] == b"VA" and len(w) > 1 and w[1].isdigit():
                skip, first = int(w[1]) + 2, 2
            for t in range(first, len(w)):
                if w[t][:1] == b"c" and w[t][1:].isdigit():
                    w[t] = b"c" + name(w[t][1:])
            line = b" ".join(w)
        elif w[0] == b"VALUE" and len(w) >= 4 and w[3].isdigit():
            skip = int(w[3]) + 2
            if len(w) == 5 and w[4].isdigit():
                w[4] = name(w[4])
            line = b" ".join(w)
        elif w[0] == b"ME":
            line = re.sub(rb"(?<= cas=)\d+", lambda m: name(m.group(0)), line)
            line = re.sub(rb" cls=\d+ size=\d+", b" cls=<cls> size=<size>", line)
        out.append(line + b"\r\n" + data[i:i + skip])
        i += skip
    return re.sub(rb"^VERSION [^\r\n]+\r\n", b"VERSION <v>\r\n", b"".join(out), flags=re.M)


def cas_of(reply, last=False):
    """The number of the first (or last) non-zero `c` token of the meta
    reply lines in reply."""
    found = re.findall(rb"^(?:HD|VA \d+|NS|EX|NF)(?: \S+)*? c([1-9]\d*)(?: |\r\n)", reply, re.M)
    check(found, "no c token in %r" % reply[:200])
    return int(found[-1] if last else found[0])


def mexpect(srv, inputs, want):
    """expect() with the meta masker: compared with 1.6.18, bytes pinned."""
    return expect(srv, inputs, want, masker=meta_mask)


def script(srv, fn, want):
    """Run fn(server) -> [reply bytes] on ours and the reference; the whole
    transcript is masked at once, so CAS names hold across replies."""
    r = compare_fn(lambda s: SEP.join(fn(s)), srv=srv, masker=meta_mask)
    eq(meta_mask(r).split(SEP), want, "reference transcript")


def ours_script(fn, want, args=()):
    """For 1.6.45 behaviour: run fn(server) on our server only."""
    with server(args) as s:
        got = meta_mask(SEP.join(fn(s))).split(SEP)
    eq(got, want, "our transcript (1.6.45 bytes)")


def expect_1645(inputs, want):
    """Send each chunk to our server only (one connection) and compare
    with 1.6.45's bytes, masked as one transcript."""
    def fn(s):
        with s.connect() as c:
            return [transact(c, x) for x in inputs]
    ours_script(fn, want)


# ---- mn ---------------------------------------------------------------------

def test_mn(srv):
    # (1.6.45 answers "mn\n" with CLIENT_ERROR bad command line format.)
    mexpect(srv, [b"mn\r\n", b"mn foo bar\r\n", b"mn P L\r\n", b"mn\n",
                  b"mg nope q\r\nmg nope2 q\r\nmn\r\n", b"mn\r\nmn\r\nmn\r\n"],
            [b"MN\r\n", b"MN\r\n", b"MN\r\n", b"MN\r\n", b"MN\r\n", b"MN\r\nMN\r\nMN\r\n"])


# ---- mg ---------------------------------------------------------------------

def test_mg_hit_and_miss(srv):
    mexpect(srv, [b"mg k\r\n", b"mg k v\r\n", b"set k 7 0 3\r\nabc\r\n",
                  b"mg k\r\n", b"mg k v\r\n", b"set e 0 0 0\r\n\r\nmg e v\r\nmg e s\r\n",
                  b"mg k v\n", b"mg  k   v \r\n"],
            [b"EN\r\n", b"EN\r\n", b"STORED\r\n",
             b"HD\r\n", b"VA 3\r\nabc\r\n", b"STORED\r\nVA 0\r\n\r\nHD s0\r\n",
             b"VA 3\r\nabc\r\n", b"VA 3\r\nabc\r\n"])


def test_mg_return_flags_in_request_order(srv):
    mexpect(srv, [b"set k 7 0 3\r\nabc\r\n",
                  b"mg k s v t f c k Oxy\r\n",
                  b"mg k Oxy k c f t v s\r\n",
                  b"mg k f\r\nmg k s\r\nmg k k\r\nmg k c\r\nmg k O\r\nmg k t\r\n",
                  b"set bin 0 0 4\r\n\r\n\r\n\r\nmg bin v s\r\n"],
            [b"STORED\r\n",
             b"VA 3 s3 t-1 f7 c<1> kk Oxy\r\nabc\r\n",
             b"VA 3 Oxy kk c<1> f7 t-1 s3\r\nabc\r\n",
             b"HD f7\r\nHD s3\r\nHD kk\r\nHD c<1>\r\nHD O\r\nHD t-1\r\n",
             b"STORED\r\nVA 4 s4\r\n\r\n\r\n\r\n"])


def test_mg_miss_echoes_only_k_and_O(srv):
    mexpect(srv, [b"mg miss k c f s t v Oz h l\r\n", b"mg miss Oz k\r\n",
                  b"mg miss k\r\n", b"mg miss O1\r\n"],
            [b"EN kmiss Oz\r\n", b"EN Oz kmiss\r\n", b"EN kmiss\r\n", b"EN O1\r\n"])


def test_mg_q_hides_only_the_miss(srv):
    mexpect(srv, [b"mg miss q\r\nmg miss q v k Ox\r\nmn\r\n",
                  b"set k 0 0 1\r\nx\r\nmg k q\r\nmg k q s\r\nmg k q v k\r\nmn\r\n",
                  b"mg k q z\r\nmg k q v v\r\nmg k q Tx\r\nmn\r\n"],
            [b"MN\r\n",
             b"STORED\r\nHD\r\nHD s1\r\nVA 1 kk\r\nx\r\nMN\r\n",
             b"CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n"
             b"CLIENT_ERROR bad token in command line format\r\nMN\r\n"])


def test_mg_h_reports_state_before_and_u_does_not_bump(srv):
    # h: fetched before this command?  u: the fetch does not count (nor
    # does it bump the item); me's fetch= agrees.
    mexpect(srv, [b"set k 0 0 1\r\nx\r\nmg k u h\r\nmg k u h\r\nme k\r\n",
                  b"mg k h\r\nme k\r\nmg k h\r\nmg k u h v\r\n",
                  b"set k 0 0 1\r\ny\r\nmg k h\r\n",
                  b"set j 0 0 1\r\nz\r\nget j\r\nmg j h\r\n",
                  b"set i 0 0 1\r\nz\r\nmg i T100\r\nmg i h\r\n"],
            [b"STORED\r\nHD h0\r\nHD h0\r\n"
             b"ME k exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"HD h0\r\nME k exp=-1 la=0 cas=<1> fetch=yes cls=<cls> size=<size>\r\n"
             b"HD h1\r\nVA 1 h1\r\nx\r\n",
             b"STORED\r\nHD h0\r\n",
             b"STORED\r\nVALUE j 0 1\r\nz\r\nEND\r\nHD h1\r\n",
             b"STORED\r\nHD\r\nHD h1\r\n"])


def test_mg_l_last_access(srv):
    # l: seconds since the last access, before this command.  memcached
    # only refreshes the access time on a later fetch (lazily, in the LRU
    # maintainer), so after the first sleep only "at least 2" is certain.
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 0 0 1\r\nx\r\nmg k l h t\r\nmg k u l\r\n")]
            time.sleep(2.1)
            for req in (b"mg k u l h\r\n", b"mg k l v\r\n"):
                r = transact(c, req)
                m = re.search(rb" l(\d+)", r)
                check(m is not None, "l token in %r" % r)
                out.append(r.replace(m.group(0), b" l>=2" if 2 <= int(m.group(1)) <= 5 else
                                     m.group(0)))
            return out
    script(srv, fn, [b"STORED\r\nHD l0 h0 t-1\r\nHD l0\r\n",
                     b"HD l>=2 h1\r\n", b"VA 1 l>=2\r\nx\r\n"])


def test_mg_t_and_T(srv):
    # t is -1 without TTL; T sets it (like touch); flags act in request
    # order, so a t before T reports the old TTL; T0 clears the TTL; T-1
    # expires the item (its t token is then a wrapped, clock-dependent
    # number, not checked here).
    mexpect(srv, [b"set k 0 0 1\r\nx\r\nmg k t\r\nmg k T100 t\r\nmg k t\r\n",
                  b"mg k t T200\r\nmg k t\r\nmg k T0 t\r\nmg k t v\r\n",
                  b"mg miss T100 t\r\n",
                  b"mg k T-1\r\nmg k t\r\n",
                  b"set k 0 300 1\r\nx\r\nmg k t\r\nmg k T2592000 t\r\n"],
            [b"STORED\r\nHD t-1\r\nHD t100\r\nHD t100\r\n",
             b"HD t100\r\nHD t200\r\nHD t-1\r\nVA 1 t-1\r\nx\r\n",
             b"EN\r\n",
             b"HD\r\nEN\r\n",
             b"STORED\r\nHD t300\r\nHD t2592000\r\n"])


def test_mg_opaque(srv):
    o31 = b"o" * 31
    mexpect(srv, [b"set k 0 0 1\r\nx\r\n",
                  b"mg k O" + o31 + b" v\r\n", b"mg k O" + o31 + b"p v\r\n",
                  b"mg k O" + o31 + b"pppppppppp\r\n", b"mg miss O" + o31 + b"p q\r\nmn\r\n",
                  b"mg k O\r\n", b"mg k O1 O2\r\n", b"mg k Oa:b/c=d\r\n"],
            [b"STORED\r\n",
             b"VA 1 O" + o31 + b"\r\nx\r\n",
             b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR opaque token too long\r\nMN\r\n",
             b"HD O\r\n", b"CLIENT_ERROR duplicate flag\r\n", b"HD Oa:b/c=d\r\n"])


def test_mg_flag_errors(srv):
    k250, k251 = b"k" * 250, b"k" * 251
    mexpect(srv, [b"set k 0 0 1\r\nx\r\n",
                  # unknown flags (1.6.45 answers + with "CLIENT_ERROR bad
                  # command line format"; x and E: test_v1645_*)
                  b"mg k z\r\n", b"mg k A v\r\n", b"mg k G\r\n",
                  b"mg k + v\r\n", b"mg k 1\r\n",
                  # a flag's own token is ignored when it takes none
                  b"mg k vv sfoo\r\n",
                  # duplicates, P and L included
                  b"mg k v v\r\n", b"mg k k s k\r\n", b"mg k P Pa v\r\n", b"mg k L L\r\n",
                  # numeric tokens
                  b"mg k T\r\n", b"mg k Tabc\r\n", b"mg k T1x\r\n", b"mg k N\r\n",
                  b"mg k Nabc\r\n", b"mg k R\r\n", b"mg k Rx\r\n", b"mg k C\r\n",
                  b"mg k Cx\r\n",
                  # ms/md/ma flags pass mg's flag check and are ignored, but
                  # M needs a one-character token (1.6.45: invalid mode)
                  b"mg k D1 F1 I J1 M1 v\r\n", b"mg k M v\r\n", b"mg k MSS v\r\n",
                  # keys (1.6.45 answers a missing key with CLIENT_ERROR)
                  b"mg\r\n", b"mg \r\n", b"mg " + k250 + b" v\r\n", b"mg " + k251 + b" v\r\n",
                  b"mg k\r\nmg k q\r\nmg k v\r\n"],
            [b"STORED\r\n",
             b"CLIENT_ERROR invalid flag\r\n", b"CLIENT_ERROR invalid flag\r\n",
             b"CLIENT_ERROR invalid flag\r\n", b"CLIENT_ERROR invalid flag\r\n",
             b"CLIENT_ERROR invalid flag\r\n",
             b"VA 1 s1\r\nx\r\n",
             b"CLIENT_ERROR duplicate flag\r\n", b"CLIENT_ERROR duplicate flag\r\n",
             b"CLIENT_ERROR duplicate flag\r\n", b"CLIENT_ERROR duplicate flag\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"VA 1\r\nx\r\n", b"CLIENT_ERROR incorrect length for M token\r\n",
             b"CLIENT_ERROR incorrect length for M token\r\n",
             b"ERROR\r\n", b"ERROR\r\n", b"EN\r\n", b"CLIENT_ERROR bad command line format\r\n",
             b"HD\r\nHD\r\nVA 1\r\nx\r\n"])


def test_mg_base64_keys(srv):
    # b: the key is base64.  k answers the key as stored: a key stored by a
    # classic command (or without b) comes back plain and without b; a
    # key stored with b comes back in base64 followed by b, whoever asks;
    # a miss echoes the request's key and b.
    # (1.6.45 swallows the data of the ms with the overlong key.)
    b248 = b"AQEB" * 62                     # 186 bytes of 0x01
    b252 = b"AQEB" * 62 + b"AQ=="           # 187 bytes: token over 250
    mexpect(srv, [b"set key 3 0 2\r\nhi\r\nmg a2V5 b v k f\r\nmg a2V5 k b\r\n",
                  b"mg bWlzcw== b k v\r\nmg bWlzcw== b k O1 q\r\nmn\r\n",
                  b"ms a2V5 2 b\r\nyo\r\nmg a2V5 b k v\r\nmg key k v\r\nmg key k b\r\n",
                  b"set key 0 0 1\r\nz\r\nmg key k\r\n",
                  b"ms AAEC 1 b k F5\r\nz\r\nmg AAEC b v k f\r\n",
                  b"ms " + b248 + b" 1 b\r\nx\r\nmg " + b248 + b" b v s\r\n",
                  b"ms " + b252 + b" 1 b\r\nx\r\n", b"mg " + b252 + b" b v\r\n",
                  b"mg a2V b\r\n", b"mg a2V5= b\r\n", b"mg a2V5== b\r\n", b"mg $$$$ b\r\n",
                  b"mg ==== b v\r\n", b"mg a2V5 b b\r\n"],
            [b"STORED\r\nVA 2 kkey f3\r\nhi\r\nHD kkey\r\n",
             b"EN kbWlzcw== b\r\nMN\r\n",
             b"HD\r\nVA 2 ka2V5 b\r\nyo\r\nVA 2 ka2V5 b\r\nyo\r\n"
             b"CLIENT_ERROR error decoding key\r\n",
             b"STORED\r\nHD kkey\r\n",
             b"HD kAAEC b\r\nVA 1 kAAEC b f5\r\nz\r\n",
             b"HD\r\nVA 1 s1\r\nx\r\n",
             b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR error decoding key\r\n", b"CLIENT_ERROR error decoding key\r\n",
             b"CLIENT_ERROR error decoding key\r\n", b"CLIENT_ERROR error decoding key\r\n",
             b"CLIENT_ERROR error decoding key\r\n", b"CLIENT_ERROR duplicate flag\r\n"])


def test_mg_N_vivifies_on_miss(srv):
    # The first miss with N creates an empty item with TTL N and wins (W);
    # later fetches of it see Z.  q does not hide the win.
    mexpect(srv, [b"mg k N30 v c t s f\r\n", b"mg k N30 v c t\r\nmg k v\r\nmg k c\r\n",
                  b"mg k N30 q v\r\nmn\r\n",
                  b"mg j N30 q\r\nmg j N30 q\r\nmn\r\n",
                  b"mg i N30 k O1\r\n",
                  b"set h 0 0 1\r\nx\r\nmg h N30 v t\r\n",
                  b"mg g N0 t\r\nmg g t\r\n"],
            [b"VA 0 c<1> t30 s0 f0 W\r\n\r\n",
             b"VA 0 c<1> t30 Z\r\n\r\nVA 0 Z\r\n\r\nHD c<1> Z\r\n",
             b"VA 0 Z\r\n\r\nMN\r\n",
             b"HD W\r\nHD Z\r\nMN\r\n",
             b"HD ki O1 W\r\n",
             b"STORED\r\nVA 1 t-1\r\nx\r\n",
             b"HD t-1 W\r\nHD t-1 Z\r\n"])


def test_mg_R_wins_recache_when_ttl_is_low(srv):
    mexpect(srv, [b"set r 0 100 1\r\nx\r\nmg r R30 v t\r\n",
                  b"mg r R200 v t\r\nmg r R200 v t\r\nmg r v t\r\n",
                  b"set r 0 100 1\r\ny\r\nmg r R100 t\r\nmg r R101 t\r\n",
                  b"set n 0 0 1\r\nx\r\nmg n R200 v t\r\n",
                  b"mg miss R30 v\r\nmg miss N30 R30 t\r\n"],
            [b"STORED\r\nVA 1 t100\r\nx\r\n",
             b"VA 1 t100 W\r\nx\r\nVA 1 t100 Z\r\nx\r\nVA 1 t100 Z\r\nx\r\n",
             b"STORED\r\nHD t100\r\nHD t100 W\r\n",
             b"STORED\r\nVA 1 t-1\r\nx\r\n",
             b"EN\r\nHD t30 W\r\n"])


def test_mg_C_mismatch_or_without_v(srv):
    # C that differs from the item's CAS changes nothing, nor does C
    # without v.  (1.6.18 ignores C altogether; with v and a matching C,
    # 1.6.45 answers HD without the value: test_v1645_mg_C_with_v.)
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 7 0 3\r\nabc\r\nmg k c\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"mg k C%d v t\r\nmg k C%d v\r\nmg k C%d\r\n"
                                b"mg k C%d s t c\r\nmg miss C%d v\r\n"
                                % (cas + 1, cas + 1000, cas, cas, cas)))
            return out
    script(srv, fn, [b"STORED\r\nHD c<1>\r\n",
                     b"VA 3 t-1\r\nabc\r\nVA 3\r\nabc\r\nHD\r\nHD s3 t-1 c<1>\r\nEN\r\n"])


# ---- ms ---------------------------------------------------------------------

def test_ms_basic(srv):
    mexpect(srv, [b"ms k 3\r\nabc\r\nmg k v f t\r\n",
                  b"ms k 2 F5 T100 c k O9\r\nhi\r\nmg k v f t c\r\n",
                  b"ms k 0\r\n\r\nmg k v f t\r\n",
                  b"ms k 4\r\na\r\nb\r\nmg k v s\r\n",
                  b"ms k 2 F4294967295\r\nhi\r\nmg k f\r\n",
                  # flags that mean nothing to ms are accepted and ignored
                  b"ms k 1 v t f h l u D1 J1 N1 R1\r\ny\r\nmg k v\r\n",
                  b"ms k 1 P Lx\r\nz\r\nmg k v\r\n",
                  b"ms k 1 T-1\r\nz\r\nmg k v\r\n"],
            [b"HD\r\nVA 3 f0 t-1\r\nabc\r\n",
             b"HD c<1> kk O9\r\nVA 2 f5 t100 c<1>\r\nhi\r\n",
             b"HD\r\nVA 0 f0 t-1\r\n\r\n",
             b"HD\r\nVA 4 s4\r\na\r\nb\r\n",
             b"HD\r\nHD f4294967295\r\n",
             b"HD\r\nVA 1\r\ny\r\n",
             b"HD\r\nVA 1\r\nz\r\n",
             b"HD\r\nEN\r\n"])


def test_ms_modes(srv):
    mexpect(srv, [b"ms k 2 MS\r\nhi\r\n", b"ms k 2 ME\r\nno\r\nmg k v\r\n",
                  b"ms n 2 ME c\r\nhi\r\n",
                  b"ms k 2 MA\r\n_a\r\nms k 2 MP\r\np_\r\nmg k v\r\n",
                  b"ms zz 2 MA\r\n_a\r\nms zz 2 MP\r\n_a\r\nms zz 2 MR\r\n_a\r\nmg zz\r\n",
                  b"ms k 1 MR F3\r\nr\r\nmg k v f\r\n",
                  # append/prepend keep the item's flags and TTL
                  b"set k 1 100 3\r\nabc\r\nms k 2 MA F9 T5\r\nde\r\nmg k v f t\r\n",
                  b"ms k 2 MP F9 T5\r\nzz\r\nmg k v f t\r\n",
                  # replace and add take the new flags and TTL (or none)
                  b"ms k 1 MR F4 T0\r\nr\r\nmg k v f t\r\n",
                  b"ms k 1 ME F8\r\ne\r\nmg k v f t\r\n",
                  # bad modes: the data line is swallowed; M alone and MSS
                  # are "incorrect length" (1.6.45: invalid mode, and MSS
                  # is taken as MS)
                  b"ms k 2 MX\r\nrr\r\n", b"ms k 2 Ms\r\nrr\r\n", b"ms k 2 Ma\r\nrr\r\n",
                  b"ms k 2 M\r\nrr\r\n", b"ms k 2 MSS\r\nrr\r\nmg k v\r\n"],
            [b"HD\r\n", b"NS\r\nVA 2\r\nhi\r\n",
             b"HD c<1>\r\n",
             b"HD\r\nHD\r\nVA 6\r\np_hi_a\r\n",
             b"NS\r\nNS\r\nNS\r\nEN\r\n",
             b"HD\r\nVA 1 f3\r\nr\r\n",
             b"STORED\r\nHD\r\nVA 5 f1 t100\r\nabcde\r\n",
             b"HD\r\nVA 7 f1 t100\r\nzzabcde\r\n",
             b"HD\r\nVA 1 f4 t-1\r\nr\r\n",
             b"NS\r\nVA 1 f4 t-1\r\nr\r\n",
             b"CLIENT_ERROR invalid mode for ms M token\r\n",
             b"CLIENT_ERROR invalid mode for ms M token\r\n",
             b"CLIENT_ERROR invalid mode for ms M token\r\n",
             b"CLIENT_ERROR incorrect length for M token\r\n",
             b"CLIENT_ERROR incorrect length for M token\r\nVA 1\r\nr\r\n"])


def test_ms_cas(srv):
    # C compares the CAS (EX on mismatch, NF on a miss; c then answers
    # c0); append/prepend modes respect C too; every store makes a new CAS.
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"ms k 1 c\r\na\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"ms k 1 C%d c\r\nb\r\nmg k v c\r\n" % (cas + 1000)))
            out.append(transact(c, b"ms k 1 C%d c T100\r\nb\r\nmg k v c t\r\n" % cas))
            out.append(transact(c, b"ms k 1 C%d c\r\nc\r\n" % cas))
            out.append(transact(c, b"ms zz 1 C%d c\r\nb\r\nms zz 1 C%d q\r\nb\r\nmn\r\n"
                                % (cas, cas)))
            cas2 = cas_of(out[2])
            out.append(transact(c, b"ms k 1 C%d MA c\r\n+\r\nms k 1 C%d MP c\r\n-\r\n"
                                b"mg k v c\r\n" % (cas, cas2)))
            cas3 = cas_of(out[-1])
            out.append(transact(c, b"ms k 1 C%d ME\r\nx\r\nms k 1 C%d MR c\r\ny\r\n"
                                b"gets k\r\n" % (cas3, cas3)))
            return out
    script(srv, fn, [b"HD c<1>\r\n",
                     b"EX c0\r\nVA 1 c<1>\r\na\r\n",
                     b"HD c<2>\r\nVA 1 c<2> t100\r\nb\r\n",
                     b"EX c0\r\n",
                     b"NF c0\r\nNF\r\nMN\r\n",
                     b"EX c0\r\nHD c<3>\r\nVA 2 c<3>\r\n-b\r\n",
                     b"NS\r\nHD c<4>\r\nVALUE k 0 1 <4>\r\ny\r\nEND\r\n"])


def test_ms_invalidate(srv):
    # I with a C older than the item's CAS stores the value but marks it
    # stale: the next mg wins (X W), later ones see Z X.  A C newer than
    # the item's is still EX, an equal one is a plain store.  A plain store
    # clears the stale mark.
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"ms k 1 c\r\na\r\nms k 1 c\r\nb\r\n")]
            old = cas_of(out[0])
            out.append(transact(c, b"ms k 1 C%d I c\r\nx\r\nmg k v c\r\nmg k v c\r\n" % old))
            out.append(transact(c, b"ms k 1 C%d I c\r\nz\r\nmg k v c\r\n" % old))
            cur = cas_of(out[-1])
            out.append(transact(c, b"ms k 1 C%d I c\r\nq\r\nms k 1 C%d I c\r\nq\r\n"
                                b"mg k v c\r\n" % (cur + 1000, cur)))
            out.append(transact(c, b"ms k 1 I c\r\ny\r\nmg k v c\r\n"))
            out.append(transact(c, b"ms miss 1 I C%d\r\ny\r\nms miss2 1 I\r\nw\r\n"
                                b"mg miss2 v\r\n" % old))
            return out
    script(srv, fn, [b"HD c<1>\r\nHD c<2>\r\n",
                     b"HD c<3>\r\nVA 1 c<3> X W\r\nx\r\nVA 1 c<3> Z X\r\nx\r\n",
                     b"HD c<4>\r\nVA 1 c<4> Z X\r\nz\r\n",
                     b"EX c0\r\nHD c<5>\r\nVA 1 c<5>\r\nq\r\n",
                     b"HD c<6>\r\nVA 1 c<6>\r\ny\r\n",
                     b"NF\r\nHD\r\nVA 1\r\nw\r\n"])


def test_ms_q_hides_only_HD(srv):
    mexpect(srv, [b"ms k 1 q\r\na\r\nms k 1 q ME\r\nb\r\nms zz 1 q MR\r\nc\r\n"
                  b"ms k 1 q C999999 k O5\r\nd\r\nms yy 1 q C1\r\ne\r\nms k 1 q z\r\nf\r\n"
                  b"ms k 1 q c\r\ng\r\nmg k v\r\nmn\r\n"],
            [b"NS\r\nNS\r\nEX kk O5\r\nNF\r\nCLIENT_ERROR invalid flag\r\nVA 1\r\ng\r\nMN\r\n"])


def test_ms_errors(srv):
    k251 = b"k" * 251
    mexpect(srv, [b"ms k 1\r\nx\r\n",
                  # bad data chunk: the tail is parsed as a command (1.6.45
                  # answers CLIENT_ERROR bad command line format to it)
                  b"ms k 2\r\nabc\r\n", b"ms k 2 q\r\nabcd\r\n",
                  b"mg k v\r\n",
                  # bad lengths: the data line is not swallowed
                  b"ms k\r\n", b"ms k abc\r\nxx\r\n", b"ms k -1\r\n", b"ms k 2x\r\nab\r\n",
                  b"ms k 99999999999999999999\r\n",
                  # a length of 2^32+1 wraps to 1 (1.6.45: bad command line)
                  b"ms k 4294967297\r\nw\r\nmg k v\r\n",
                  # bad flags after a good length: the data line is swallowed
                  b"ms k 2 Fabc\r\nab\r\n", b"ms k 2 F\r\nab\r\n", b"ms k 2 F-1\r\nab\r\n",
                  b"ms k 2 Tabc\r\nab\r\n", b"ms k 2 T\r\nab\r\n", b"ms k 2 C\r\nab\r\n",
                  b"ms k 2 Cx\r\nab\r\n", b"ms k 2 z\r\nab\r\n", b"ms k 2 c c\r\nab\r\n",
                  b"ms k 2 O" + b"o" * 32 + b"\r\nab\r\n", b"ms k 2 b\r\nab\r\n",
                  b"mg k v\r\n",
                  # flags wrap at 2^32 (1.6.45: bad command line format)
                  b"ms k 2 F4294967296\r\nab\r\nmg k f\r\n",
                  # overlong key: not swallowed (1.6.45 swallows); no key
                  # at all is ERROR (1.6.45: CLIENT_ERROR)
                  b"ms " + k251 + b" 2\r\nab\r\n", b"ms\r\n", b"ms \r\n"],
            [b"HD\r\n",
             b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
             b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
             b"VA 1\r\nx\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"HD\r\nVA 1\r\nw\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR invalid flag\r\n", b"CLIENT_ERROR duplicate flag\r\n",
             b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR error decoding key\r\n",
             b"VA 1\r\nw\r\n",
             b"HD\r\nHD f0\r\n",
             b"CLIENT_ERROR bad command line format\r\nERROR\r\n", b"ERROR\r\n", b"ERROR\r\n"])


def test_ms_too_large(srv):
    # Too large: SERVER_ERROR (q does not hide it), the data is swallowed
    # and the key's old value is gone.
    big = 1024 * 1024
    r = mexpect(srv, [b"set k 0 0 1\r\nx\r\nms k %d\r\n%s\r\nmg k v\r\n" % (big, b"a" * big),
                      b"set k 0 0 1\r\nx\r\nms k %d q\r\n%s\r\nmg k v\r\n" % (big, b"a" * big),
                      b"ms k 2000000 T0 F1\r\n" + b"b" * 2000000 + b"\r\nmn\r\n",
                      b"ms k 1048000\r\n" + b"c" * 1048000 + b"\r\nmg k s\r\n"],
                [b"STORED\r\nSERVER_ERROR object too large for cache\r\nEN\r\n",
                 b"STORED\r\nSERVER_ERROR object too large for cache\r\nEN\r\n",
                 b"SERVER_ERROR object too large for cache\r\nMN\r\n",
                 b"HD\r\nHD s1048000\r\n"])
    check(len(r) == 4, "answered")


def test_opaque_too_long_after_the_lookup(srv):
    # memcached checks O's length while it writes the reply flags, after
    # the lookup: the error comes back, yet what the flags before O did
    # (and the fetch itself, unless u) has happened; for ma the whole
    # increment has.  Other flag errors (unknown, duplicate, bad token)
    # come before any effect.
    o32 = b"O" + b"o" * 32
    mexpect(srv, [b"set k 0 0 1\r\nx\r\nmg k %s\r\nmg k h\r\n" % o32,
                  b"set k 0 0 1\r\nx\r\nmg k %s u\r\nmg k h\r\n" % o32,
                  b"set k 0 0 1\r\nx\r\nmg k %s T100\r\nmg k t\r\n" % o32,
                  b"set k 0 0 1\r\nx\r\nmg k T100 %s\r\nmg k t\r\n" % o32,
                  b"set k 0 0 1\r\nx\r\nmg k z\r\nmg k v v\r\nmg k Tx\r\nmg k h\r\n",
                  b"mg n2 %s N30\r\nmg n2 v\r\n" % o32,
                  b"set k 0 0 1\r\nx\r\nmd k %s\r\nmd k I %s\r\nmg k v\r\n" % (o32, o32),
                  b"set n 0 0 1\r\n1\r\nma n %s v\r\nma n v %s\r\nmg n v\r\n"
                  % (o32, o32)],
            [b"STORED\r\nCLIENT_ERROR opaque token too long\r\nHD h1\r\n",
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\nHD h0\r\n",
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\nHD t-1\r\n",
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\nHD t100\r\n",
             b"STORED\r\nCLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n"
             b"CLIENT_ERROR bad token in command line format\r\nHD h0\r\n",
             b"CLIENT_ERROR opaque token too long\r\nVA 0\r\n\r\n",
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\n"
             b"CLIENT_ERROR opaque token too long\r\nVA 1\r\nx\r\n",
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\n"
             b"CLIENT_ERROR opaque token too long\r\nVA 1\r\n3\r\n"])


# ---- md ---------------------------------------------------------------------

def test_md_basic(srv):
    mexpect(srv, [b"md k\r\n", b"md k q\r\nmn\r\n",
                  b"set k 0 0 1\r\nx\r\nmd k q\r\nmn\r\nmg k\r\n",
                  b"set k 0 0 1\r\nx\r\nmd k k O5\r\n", b"md k k O5\r\nmd k k O5 q\r\nmn\r\n",
                  b"md a2V5 b k\r\n", b"set key 0 0 1\r\nx\r\nmd a2V5 b k\r\nmg key\r\n",
                  b"md a2V5 b k q\r\nmn\r\n",
                  # return flags of mg are accepted and answer nothing
                  b"set k 0 0 1\r\nx\r\nmd k v c t f s h l u\r\n",
                  b"md k P Lx\r\n", b"md k O" + b"o" * 32 + b"\r\n",
                  # 1.6.18's md answers every bad flag or token with one
                  # message (1.6.45: invalid flag / bad token / duplicate
                  # flag / error decoding key, and answers a missing key
                  # with CLIENT_ERROR)
                  b"md k z\r\n", b"md k q q\r\n",
                  b"md k C\r\n", b"md k Cx\r\n", b"md k T\r\n", b"md k Tx\r\n",
                  b"md k b\r\n", b"md a2V b\r\n",
                  b"md\r\n", b"md \r\n", b"md " + b"k" * 251 + b"\r\n"],
            [b"NF\r\n", b"NF\r\nMN\r\n",
             b"STORED\r\nMN\r\nEN\r\n",
             b"STORED\r\nHD kk O5\r\n", b"NF kk O5\r\nNF kk O5\r\nMN\r\n",
             b"NF ka2V5 b\r\n", b"STORED\r\nHD ka2V5 b\r\nEN\r\n",
             b"NF ka2V5 b\r\nMN\r\n",
             b"STORED\r\nHD\r\n",
             b"NF\r\n", b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"ERROR\r\n", b"ERROR\r\n", b"CLIENT_ERROR bad command line format\r\n"])


def test_md_cas(srv):
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 0 0 1\r\nx\r\nmg k c\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"md k C%d\r\nmd k C%d q\r\nmd k C%d k\r\nmn\r\n"
                                % (cas + 1000, cas + 1, cas - 1)))
            out.append(transact(c, b"md k C%d q\r\nmn\r\nmg k\r\nmd k C%d\r\n" % (cas, cas)))
            return out
    script(srv, fn, [b"STORED\r\nHD c<1>\r\n",
                     b"EX\r\nEX\r\nEX kk\r\nMN\r\n",
                     b"MN\r\nEN\r\nNF\r\n"])


def test_md_invalidate(srv):
    # I keeps the item, marks it stale and gives it a new CAS (and each md
    # I re-arms the win: the next mg gets W again); T goes with I only
    # (without I, T is ignored and the item deleted).
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 0 0 3\r\nold\r\nmg k c\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"md k I T30\r\nmg k v c t\r\nmg k v c t\r\nmg k c\r\n"))
            out.append(transact(c, b"md k I\r\nmg k c v\r\nmd k I q\r\nmn\r\nmg k c\r\n"))
            out.append(transact(c, b"md k I C%d\r\nmd zz I\r\nmd k I C%d\r\n"
                                % (cas, cas_of(out[-1], last=True))))
            out.append(transact(c, b"mg k c t\r\nmd k T30\r\nmg k t\r\n"))
            out.append(transact(c, b"set j 0 0 1\r\nx\r\nmd j I T0\r\nmg j t\r\n"
                                b"md j I T-1\r\nmg j t\r\n"))
            return out
    script(srv, fn, [b"STORED\r\nHD c<1>\r\n",
                     b"HD\r\nVA 3 c<2> t30 X W\r\nold\r\nVA 3 c<2> t30 Z X\r\nold\r\n"
                     b"HD c<2> Z X\r\n",
                     b"HD\r\nVA 3 c<3> X W\r\nold\r\nMN\r\nHD c<4> X W\r\n",
                     b"EX\r\nNF\r\nHD\r\n",
                     b"HD c<5> t30 X W\r\nHD\r\nEN\r\n",
                     b"STORED\r\nHD\r\nHD t-1 X W\r\nHD\r\nEN\r\n"])


# ---- ma ---------------------------------------------------------------------

def test_ma_basic(srv):
    mexpect(srv, [b"ma n\r\n", b"ma n q\r\nmn\r\n", b"ma n v\r\n",
                  b"ma n N0 v\r\n", b"ma n v\r\n", b"ma n\r\nmg n v\r\n",
                  b"ma n2 N0 J10 v\r\n", b"ma n2 J10 v\r\n", b"ma n2 D5 v t\r\n",
                  b"ma n2 MD D100 v\r\n", b"ma n2 M+ D3 v\r\n", b"ma n2 M- D1 v\r\n",
                  b"ma n2 MI v\r\n", b"ma n2 MD v\r\n",
                  # created with J, no delta applied, TTL from N
                  b"ma n3 N100 J7 MD v t\r\n", b"ma n3 T50 t v\r\nma n3 t v\r\n",
                  # T is lost when the result is longer than the old value
                  # (the item is replaced), though t reports it
                  b"ma n3 t T60 v\r\nma n3 t\r\n",
                  b"set x 0 0 1\r\n8\r\nma x T60 t v\r\nmg x t\r\nma x T70 t v\r\nmg x t\r\n",
                  b"ma n3 k O1 v\r\n", b"ma n3 k O1\r\n", b"ma zz k O1\r\n",
                  # q hides HD and VA, not NF/EX/errors; a miss created by
                  # N still answers HD (1.6.45 hides it)
                  b"ma n3 q\r\nma n3 q v\r\nma zz q\r\nma n4 N0 q\r\nmn\r\n",
                  # wrap at 2^64; decr stops at 0
                  b"set big 0 0 20\r\n18446744073709551615\r\nma big v\r\n",
                  b"ma big MD D5 v\r\n",
                  b"ma big D18446744073709551615 v\r\n",
                  # flags and value length: incr keeps flags; a shorter
                  # result is space-padded in place
                  b"set n6 3 0 2\r\n10\r\nma n6 v\r\nmg n6 f v\r\n",
                  b"set n5 0 0 3\r\n100\r\nma n5 MD D95 v\r\nget n5\r\nmg n5 s v\r\n",
                  b"incr n5 1\r\nma n5 v\r\nget n5\r\n",
                  b"set n8 0 0 2\r\n 5\r\nma n8 v\r\n",
                  b"ma n P L v\r\n"],
            [b"NF\r\n", b"NF\r\nMN\r\n", b"NF\r\n",
             b"VA 1\r\n0\r\n", b"VA 1\r\n1\r\n", b"HD\r\nVA 1\r\n2\r\n",
             b"VA 2\r\n10\r\n", b"VA 2\r\n11\r\n", b"VA 2 t-1\r\n16\r\n",
             b"VA 1\r\n0\r\n", b"VA 1\r\n3\r\n", b"VA 1\r\n2\r\n",
             b"VA 1\r\n3\r\n", b"VA 1\r\n2\r\n",
             b"VA 1 t100\r\n7\r\n", b"VA 1 t50\r\n8\r\nVA 1 t50\r\n9\r\n",
             b"VA 2 t50\r\n10\r\nHD t50\r\n",
             b"STORED\r\nVA 1 t60\r\n9\r\nHD t60\r\nVA 2 t70\r\n10\r\nHD t60\r\n",
             b"VA 2 kn3 O1\r\n12\r\n", b"HD kn3 O1\r\n", b"NF kzz O1\r\n",
             b"NF\r\nHD\r\nMN\r\n",
             b"STORED\r\nVA 1\r\n0\r\n",
             b"VA 1\r\n0\r\n",
             b"VA 20\r\n18446744073709551615\r\n",
             b"STORED\r\nVA 2\r\n11\r\nVA 2 f3\r\n11\r\n",
             b"STORED\r\nVA 1\r\n5\r\nVALUE n5 0 3\r\n5  \r\nEND\r\nVA 3 s3\r\n5  \r\n",
             b"6\r\nVA 1\r\n7\r\nVALUE n5 0 3\r\n7  \r\nEND\r\n",
             b"STORED\r\nVA 1\r\n6\r\n",
             b"VA 1\r\n3\r\n"])


def test_ma_errors(srv):
    mexpect(srv, [b"set s 0 0 3\r\nabc\r\nma s v\r\n", b"ma s N0 v\r\n", b"ma s q\r\nmn\r\n",
                  b"set m 0 0 2\r\n-5\r\nma m\r\n",
                  b"set m 0 0 21\r\n184467440737095516150\r\nma m\r\n",
                  b"set n 0 0 1\r\n1\r\n",
                  # every bad flag or token: one message
                  b"ma n z\r\n", b"ma n v v\r\n", b"ma n D-\r\n", b"ma n Dabc\r\n",
                  b"ma n D\r\n", b"ma n D18446744073709551616\r\n", b"ma n N\r\n",
                  b"ma n J\r\n", b"ma n Jabc N0\r\n", b"ma nn N0 J18446744073709551616\r\n",
                  b"ma n C\r\n", b"ma n T\r\n", b"ma n Tx\r\n", b"ma n b\r\n",
                  b"ma n Mi v\r\n", b"ma n Md\r\n", b"ma n Mx\r\n", b"ma n M\r\n",
                  b"ma n MII\r\n",
                  # accepted and ignored
                  b"ma n F1 R1 s f h l u v\r\n",
                  b"ma\r\n", b"ma \r\n", b"ma " + b"k" * 251 + b"\r\n"],
            [b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
             b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
             b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n",
             b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
             b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
             b"STORED\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid mode for ma M token\r\n",
             b"CLIENT_ERROR invalid mode for ma M token\r\n",
             b"CLIENT_ERROR invalid mode for ma M token\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n",
             b"VA 1\r\n2\r\n",
             b"ERROR\r\n", b"ERROR\r\n", b"CLIENT_ERROR bad command line format\r\n"])


def test_ma_cas(srv):
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set n 0 0 1\r\n5\r\nmg n c\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"ma n C%d v\r\nma n C%d q\r\nma n C%d v c\r\n"
                                b"ma n C%d v c\r\nmn\r\n" % (cas + 1000, cas + 1, cas, cas)))
            out.append(transact(c, b"ma n c\r\nma n v c\r\ngets n\r\nmg n c v\r\n"))
            out.append(transact(c, b"ma zz C1\r\nma zz N0 C1 c v\r\nma yy N0 C1 c v\r\n"))
            return out
    script(srv, fn, [b"STORED\r\nHD c<1>\r\n",
                     b"EX\r\nEX\r\nVA 1 c<2>\r\n6\r\nEX\r\nMN\r\n",
                     b"HD c<3>\r\nVA 1 c<4>\r\n8\r\nVALUE n 0 1 <4>\r\n8\r\nEND\r\n"
                     b"VA 1 c<4>\r\n8\r\n",
                     b"NF\r\nVA 1 c<5>\r\n0\r\nVA 1 c<6>\r\n0\r\n"])


# ---- me ---------------------------------------------------------------------

def test_me(srv):
    # me prints exp (-1 without a TTL; 1.6.18 prints minus the remaining
    # TTL, 1.6.45 the remaining TTL), la (seconds since last
    # access), cas, fetch, cls and size (the last two masked: our items are
    # smaller).  A miss is EN.  With b the key is base64; the reply shows
    # the key plain unless the item was stored with b (1.6.45's me only
    # honours b when a token follows it).
    mexpect(srv, [b"me miss\r\n", b"me miss b\r\n",
                  b"set k 0 0 1\r\nx\r\nme k\r\n",
                  b"set t 0 100 1\r\nx\r\nme t\r\nget t\r\nme t\r\n",
                  b"me k z\r\nme k xyz abc\r\nme k P L\r\n",
                  b"set key 0 0 1\r\nx\r\nme a2V5 b\r\nme a2V5 b z\r\n",
                  b"ms AAEC 1 b\r\nx\r\nme AAEC b\r\n",
                  b"me key b\r\n", b"me a2V5== b\r\n",
                  b"me\r\n", b"me \r\n", b"me " + b"k" * 251 + b"\r\n",
                  b"md k\r\nme k\r\n"],
            [b"EN\r\n", b"EN\r\n",
             b"STORED\r\nME k exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"STORED\r\nME t exp=-100 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n"
             b"VALUE t 0 1\r\nx\r\nEND\r\n"
             b"ME t exp=-100 la=0 cas=<1> fetch=yes cls=<cls> size=<size>\r\n",
             b"ME k exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n"
             b"ME k exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n"
             b"ME k exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"STORED\r\nME key exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n"
             b"ME key exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"HD\r\nME AAEC exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n",
             b"HD\r\nEN\r\n"])


# ---- scenarios with several clients ----------------------------------------

def test_stale_while_revalidate_three_clients(srv):
    # A marks the item stale; of the clients fetching it exactly one (the
    # first) wins the right to recompute (X W), the others get the stale
    # value with Z X; a store with the stale item's CAS clears it and all
    # see the new value; the CAS from before the invalidation is refused.
    def fn(s):
        a, b, c = s.connect(), s.connect(), s.connect()
        try:
            out = [transact(a, b"set k 0 0 3\r\nold\r\nmg k c\r\n")]
            before = cas_of(out[0])
            out.append(transact(a, b"md k I T30\r\n"))
            out.append(transact(b, b"mg k v c t\r\n"))
            out.append(transact(c, b"mg k v c t\r\n"))
            out.append(transact(a, b"mg k v c\r\n"))
            stale = cas_of(out[2])
            out.append(transact(c, b"ms k 3 C%d c\r\nbad\r\n" % before))
            out.append(transact(b, b"ms k 3 C%d T0 c\r\nnew\r\n" % stale))
            for x in (a, b, c):
                out.append(transact(x, b"mg k v c t\r\n"))
            return out
        finally:
            for x in (a, b, c):
                x.close()
    script(srv, fn, [b"STORED\r\nHD c<1>\r\n", b"HD\r\n",
                     b"VA 3 c<2> t30 X W\r\nold\r\n", b"VA 3 c<2> t30 Z X\r\nold\r\n",
                     b"VA 3 c<2> Z X\r\nold\r\n", b"EX c0\r\n", b"HD c<3>\r\n",
                     b"VA 3 c<3> t-1\r\nnew\r\n", b"VA 3 c<3> t-1\r\nnew\r\n",
                     b"VA 3 c<3> t-1\r\nnew\r\n"])


def test_stampede_vivify_one_winner(srv):
    # Clients one after the other: the first miss with N wins, the rest
    # see Z; the winner's store (with the CAS it got) ends it.
    def fn(s):
        cs = [s.connect() for _ in range(4)]
        try:
            out = [transact(x, b"mg k N30 v c t s\r\n") for x in cs]
            cas = cas_of(out[0])
            out.append(transact(cs[0], b"ms k 5 C%d T60 c\r\nvalue\r\n" % cas))
            out += [transact(x, b"mg k N30 v t\r\n") for x in cs]
            return out
        finally:
            for x in cs:
                x.close()
    script(srv, fn, [b"VA 0 c<1> t30 s0 W\r\n\r\n"] + [b"VA 0 c<1> t30 s0 Z\r\n\r\n"] * 3
           + [b"HD c<2>\r\n"] + [b"VA 5 t60\r\nvalue\r\n"] * 4)


def test_stampede_concurrent_exactly_one_W(srv):
    # Eight clients at once: exactly one W whatever the interleaving.
    def fn(s):
        n = 8
        conns = [s.connect() for _ in range(n)]
        res = [None] * n
        go = threading.Barrier(n)

        def one(i):
            go.wait(10)
            res[i] = transact(conns[i], b"mg hot N30 c\r\n")
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        for x in conns:
            x.close()
        return b"".join(sorted(meta_mask(r) for r in res))
    o, r = run_both(fn, srv=srv)
    eq(o, r, "sorted replies (ours vs reference)")
    eq(r, b"HD c<1> W\r\n" + b"HD c<1> Z\r\n" * 7, "reference")


# ---- mixed pipelines, splits -------------------------------------------------

MIXED = (b"set k 1 0 3\r\nabc\r\n"
         b"mg k v f c\r\n"
         b"gets k\r\n"
         b"ms k 3 F2 c\r\nxyz\r\n"
         b"get k\r\n"
         b"gets k\r\n"
         b"append k 0 0 1\r\n!\r\n"
         b"mg k v c\r\n"
         b"set n 0 0 1\r\n9\r\n"
         b"incr n 1\r\n"
         b"ma n v\r\n"
         b"decr n 20\r\n"
         b"ma n MD v\r\n"
         b"mg n v s\r\n"
         b"touch k 100\r\n"
         b"mg k t\r\n"
         b"gat 0 k\r\n"
         b"mg k t h\r\n"
         b"delete k\r\n"
         b"mg k v\r\n"
         b"md n\r\n"
         b"get n\r\n"
         b"ms a2V5 2 b q\r\nhi\r\n"
         b"get key\r\n"
         b"mg miss q\r\n"
         b"mn\r\n")

MIXED_WANT = (b"STORED\r\n"
              b"VA 3 f1 c<1>\r\nabc\r\n"
              b"VALUE k 1 3 <1>\r\nabc\r\nEND\r\n"
              b"HD c<2>\r\n"
              b"VALUE k 2 3\r\nxyz\r\nEND\r\n"
              b"VALUE k 2 3 <2>\r\nxyz\r\nEND\r\n"
              b"STORED\r\n"
              b"VA 4 c<3>\r\nxyz!\r\n"
              b"STORED\r\n"
              b"10\r\n"
              b"VA 2\r\n11\r\n"
              b"0\r\n"
              b"VA 1\r\n0\r\n"
              b"VA 2 s2\r\n0 \r\n"
              b"TOUCHED\r\n"
              b"HD t100\r\n"
              b"VALUE k 2 4\r\nxyz!\r\nEND\r\n"
              b"HD t-1 h1\r\n"
              b"DELETED\r\n"
              b"EN\r\n"
              b"HD\r\n"
              b"END\r\n"
              b"VALUE key 0 2\r\nhi\r\nEND\r\n"
              b"MN\r\n")


def test_mixed_classic_and_meta_pipeline(srv):
    mexpect(srv, [MIXED], [MIXED_WANT])


def test_pipeline_with_errors_in_the_middle(srv):
    mexpect(srv, [b"ms k 2\r\nab\r\n"
                  b"bogus\r\n"
                  b"mg k z\r\n"
                  b"ms k 1 z\r\ny\r\n"
                  b"mg k v\r\n"
                  b"ms k 2\r\nabcd\r\n"
                  b"mg k v\r\n"
                  b"ma k v\r\n"
                  b"md k C999999\r\n"
                  b"get k\r\n"
                  b"set n 0 0 1\r\n1\r\n"
                  b"ma n D-1\r\n"
                  b"incr n x\r\n"
                  b"ma n v\r\n"
                  b"mg\r\n"
                  b"mg n O" + b"o" * 40 + b" v\r\n"
                  b"mg n v\r\n"
                  b"mn\r\n"],
            [b"HD\r\n"
             b"ERROR\r\n"
             b"CLIENT_ERROR invalid flag\r\n"
             b"CLIENT_ERROR invalid flag\r\n"
             b"VA 2\r\nab\r\n"
             b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
             b"VA 2\r\nab\r\n"
             b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
             b"EX\r\n"
             b"VALUE k 0 2\r\nab\r\nEND\r\n"
             b"STORED\r\n"
             b"CLIENT_ERROR invalid or duplicate flag\r\n"
             b"CLIENT_ERROR invalid numeric delta argument\r\n"
             b"VA 1\r\n2\r\n"
             b"ERROR\r\n"
             b"CLIENT_ERROR opaque token too long\r\n"
             b"VA 1\r\n2\r\n"
             b"MN\r\n"])


SPLIT_BATCH = (b"ms a 4 T100 F3 c\r\nx\r\ny\r\n"
               b"mg a v f t k Oq1\r\n"
               b"mg b N30 c q\r\n"
               b"ms YmluAA== 1 b\r\n!\r\n"
               b"mg YmluAA== b k v\r\n"
               b"ma n N0 J5 v\r\n"
               b"md a q\r\n"
               b"mg a q\r\n"
               b"get a n\r\n"
               b"mg a z\r\n"
               b"ms e 1 T0\r\nab\r\n"
               b"me n\r\n"
               b"mn\r\n")

SPLIT_WANT = (b"HD c<%d>\r\n"
              b"VA 4 f3 t100 ka Oq1\r\nx\r\ny\r\n"
              b"HD c<%d> W\r\n"
              b"HD\r\n"
              b"VA 1 kYmluAA== b\r\n!\r\n"
              b"VA 1\r\n5\r\n"
              b"VALUE n 0 1\r\n5\r\nEND\r\n"
              b"CLIENT_ERROR invalid flag\r\n"
              b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
              b"ME n exp=-1 la=0 cas=<%d> fetch=yes cls=<cls> size=<size>\r\n"
              b"MN\r\n")


def test_meta_batch_sent_byte_by_byte(srv):
    def whole(s):
        with s.connect() as c:
            return transact(c, MIXED + SPLIT_BATCH)

    def bytewise(s):
        with s.connect() as c:
            data = MIXED + SPLIT_BATCH
            for i in range(len(data)):
                c.send(data[i:i + 1])
                if i % 8 == 0:
                    time.sleep(0.0005)
            return transact(c, b"")
    o1, r1 = run_both(whole, srv=srv)
    with pair() as srv2:
        o2, r2 = run_both(bytewise, srv=srv2)
    want = MIXED_WANT + SPLIT_WANT % (4, 5, 6)
    eq(meta_mask(r1), want, "reference, whole")
    eq(meta_mask(o1), want, "ours, whole")
    eq(meta_mask(r2), want, "reference, byte by byte")
    eq(meta_mask(o2), want, "ours, byte by byte")


def test_meta_batch_all_two_way_splits(srv):
    def fn(s):
        outs = []
        for cut in range(1, len(SPLIT_BATCH)):
            with s.connect() as c:
                transact(c, b"flush_all\r\n")
                c.send(SPLIT_BATCH[:cut])
                time.sleep(0.001)
                outs.append(transact(c, SPLIT_BATCH[cut:]))
        return outs
    o, r = run_both(fn, srv=srv)
    want = SPLIT_WANT % (1, 2, 3)
    for cut, (a, b) in enumerate(zip(o, r), 1):
        eq(meta_mask(b), want, "reference, split at byte %d" % cut)
        eq(meta_mask(a), want, "ours, split at byte %d" % cut)


# ---- stats, flush_all, TTLs -----------------------------------------------------

COUNTERS = ["cmd_get", "cmd_set", "cmd_touch", "cmd_flush", "cmd_meta", "get_hits",
            "get_misses", "get_expired", "get_flushed", "delete_hits", "delete_misses",
            "incr_hits", "incr_misses", "decr_hits", "decr_misses", "cas_hits",
            "cas_misses", "cas_badval", "touch_hits", "touch_misses"]


def test_meta_commands_in_stats(srv):
    seq = (b"mg a v\r\nmg a N30\r\nmg a v\r\nmg a\r\nmg a q\r\nmg zz q\r\n"
           b"mg a T10\r\nmg zz T10\r\nmg a T10 v\r\nmg a u\r\nmg a C1 v\r\n"
           b"ms b 1\r\nx\r\nms b 1 ME\r\nx\r\nms c 1 MR\r\nx\r\nms b 1 MA\r\ny\r\n"
           b"ms c 1 MP\r\ny\r\nms b 1 C1\r\nx\r\nms zz 1 C1\r\nx\r\nms b 1 C1 I\r\nx\r\n"
           b"ms b 1 z\r\nx\r\nms big 2000000\r\n" + b"z" * 2000000 + b"\r\n"
           b"ms d 1 q\r\n1\r\nmd d\r\nmd d\r\nmd b I\r\nmd b C1\r\nmd zz C1\r\nmd b q\r\n"
           b"ms n 1\r\n5\r\nma n\r\nma n MD\r\nma zz\r\nma zz MD\r\nma n2 N0\r\n"
           b"ma n2 N0 MD\r\nma n C1\r\nma n T100\r\nma n3 N0 MD\r\n"
           b"ma b\r\nmn\r\nme n\r\nme zz\r\nmg a z\r\n"
           b"flush_all\r\nmg n v\r\nma n\r\nmd n\r\n")

    def fn(s):
        with s.connect() as c:
            transact(c, seq)
            st = stats(c)[0]
        return {k: st.get(k) for k in COUNTERS}
    o, r = run_both(fn, srv=srv)
    eq(o, r, "counters after the meta sequence (ours vs reference)")
    # Of note: mg T counts as a touch when it hits and as a get miss when
    # it misses; cmd_meta counts only me (with a key, hit or miss); a
    # flushed item met by mg/ma/md counts in get_flushed (1.6.45 counts no
    # get_flushed here, for get neither).
    eq(r, {"cmd_get": "10", "cmd_set": "10", "cmd_touch": "2", "cmd_flush": "1",
           "cmd_meta": "2", "get_hits": "6", "get_misses": "4", "get_expired": "0",
           "get_flushed": "1", "delete_hits": "2", "delete_misses": "4",
           "incr_hits": "2", "incr_misses": "3", "decr_hits": "2", "decr_misses": "1",
           "cas_hits": "1", "cas_misses": "1", "cas_badval": "1", "touch_hits": "2",
           "touch_misses": "0"}, "reference counters")


def test_q_and_noreply_with_flush_all(srv):
    # (1.6.45 hides the HD of "ma a q N0 J7" creating the item.)
    mexpect(srv, [b"ms a 1 q\r\n1\r\nms b 1 q\r\n2\r\nset c 0 0 1 noreply\r\n3\r\n"
                  b"flush_all noreply\r\n"
                  b"mg a v q\r\nmg b v q k\r\nmg c q\r\nmd a q\r\nma b q\r\n"
                  b"ms c 1 q MR\r\n3\r\nmn\r\n",
                  b"ms a 1 q\r\n1\r\nflush_all\r\nmg a v\r\nms a 1 q\r\n2\r\nmg a v q\r\n"
                  b"flush_all 0 noreply\r\nmg a v q\r\nmn\r\n",
                  b"ms a 1 q\r\n1\r\nflush_all noreply\r\nma a q N0 J7\r\nmg a v\r\n"
                  b"md a q\r\nmg a v q\r\nmn\r\n"],
            [b"NF\r\nNF\r\nNS\r\nMN\r\n",
             b"OK\r\nEN\r\nVA 1\r\n2\r\nMN\r\n",
             b"HD\r\nVA 1\r\n7\r\nMN\r\n"])


def test_ttl_reported_by_mg_t(srv):
    # The TTL each command leaves, as mg's t reports it (each command and
    # its mg in one write, so no clock tick falls between them).
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 0 100 1\r\nx\r\nmg k t\r\n"),
                   transact(c, b"set k 0 0 1\r\nx\r\nmg k t\r\n"),
                   transact(c, b"add a 0 50 1\r\nx\r\nmg a t\r\n"),
                   transact(c, b"replace k 0 200 1\r\ny\r\nmg k t\r\n"),
                   transact(c, b"append k 0 999 1\r\nz\r\nprepend k 0 999 1\r\nz\r\nmg k t\r\n"),
                   transact(c, b"touch k 300\r\nmg k t\r\n"),
                   transact(c, b"gat 400 k\r\nmg k t\r\n"),
                   transact(c, b"gats 0 k\r\nmg k t\r\n"),
                   transact(c, b"touch k 2592000\r\nmg k t\r\n")]
            cas = int(transact(c, b"gets k\r\n").split(b"\r\n")[0].split()[4])
            out.append(transact(c, b"cas k 0 600 1 %d\r\nw\r\nmg k t\r\n" % cas))
            out += [transact(c, b"set n 0 700 1\r\n1\r\nincr n 1\r\ndecr n 1\r\nmg n t\r\n"),
                    transact(c, b"ma n T800\r\nmg n t\r\nma n\r\nmg n t\r\n"),
                    transact(c, b"ma m N900 J1\r\nmg m t\r\n"),
                    transact(c, b"ms k 1 T1000\r\nx\r\nmg k t\r\nms k 1 MA T5\r\nx\r\nmg k t\r\n"),
                    transact(c, b"ms k 1\r\nx\r\nmg k t\r\n"),
                    transact(c, b"mg k T1100\r\nmg k t\r\nmg k T0\r\nmg k t\r\n"),
                    transact(c, b"md k I T1200\r\nmg k t\r\n"),
                    transact(c, b"mg v N1300\r\nmg v t\r\n"),
                    transact(c, b"set k 0 -1 1\r\nx\r\nmg k t\r\n")]
            # absolute exptime: memcached converts it against its clock
            # base, so the result is within a second of the difference
            now = int(time.time())
            r = transact(c, b"set abs 0 %d 1\r\nx\r\nmg abs t\r\n" % (now + 1000))
            m = re.search(rb"HD t(\d+)\r\n", r)
            check(m is not None and 998 <= int(m.group(1)) <= 1001, "absolute TTL: %r" % r)
            out.append(b"t~1000")
            return out
    script(srv, fn, [b"STORED\r\nHD t100\r\n", b"STORED\r\nHD t-1\r\n",
                     b"STORED\r\nHD t50\r\n", b"STORED\r\nHD t200\r\n",
                     b"STORED\r\nSTORED\r\nHD t200\r\n", b"TOUCHED\r\nHD t300\r\n",
                     b"VALUE k 0 3\r\nzyz\r\nEND\r\nHD t400\r\n",
                     b"VALUE k 0 3 <1>\r\nzyz\r\nEND\r\nHD t-1\r\n",
                     b"TOUCHED\r\nHD t2592000\r\n",
                     b"STORED\r\nHD t600\r\n",
                     b"STORED\r\n2\r\n1\r\nHD t700\r\n",
                     b"HD\r\nHD t800\r\nHD\r\nHD t800\r\n",
                     b"HD\r\nHD t900\r\n",
                     b"HD\r\nHD t1000\r\nHD\r\nHD t1000\r\n",
                     b"HD\r\nHD t-1\r\n",
                     b"HD\r\nHD t1100\r\nHD\r\nHD t-1\r\n",
                     b"HD\r\nHD t1200 X W\r\n",
                     b"HD W\r\nHD t1300 Z\r\n",
                     b"STORED\r\nEN\r\n",
                     b"t~1000"])


def test_P_and_L_are_ignored_everywhere(srv):
    mexpect(srv, [b"ms k 1 Pp/q Lr\r\nx\r\n", b"mg k P Lpath/ v\r\n",
                  b"set n 0 0 1\r\n1\r\nma n Pp L v\r\n", b"md k P L q\r\nmn\r\n",
                  b"mn P L\r\n", b"me n P L\r\n", b"mg n P P\r\n", b"mg n L L\r\n"],
            [b"HD\r\n", b"VA 1\r\nx\r\n", b"STORED\r\nVA 1\r\n2\r\n", b"MN\r\n", b"MN\r\n",
             b"ME n exp=-1 la=0 cas=<1> fetch=no cls=<cls> size=<size>\r\n",
             b"CLIENT_ERROR duplicate flag\r\n", b"CLIENT_ERROR duplicate flag\r\n"])


def test_cas_sequence_compared(srv):
    # The CAS pattern of a mixed sequence: which commands give a new CAS
    # and which keep it (mg T, touch, gat and failures keep it).
    def fn(s):
        with s.connect() as c:
            return [transact(c, b"ms k 1 c\r\na\r\nmg k c T100\r\ntouch k 10\r\nmg k c\r\n"
                                b"gat 10 k\r\nmg k c\r\nms k 1 C999999 c\r\nb\r\nmg k c\r\n"
                                b"ms k 1 ME c\r\nb\r\nms k 1 MA c\r\nb\r\nms k 1 MP c\r\nb\r\n"
                                b"set n 0 0 1\r\n1\r\nma n c\r\nincr n 1\r\nmg n c\r\n"
                                b"md n I\r\nmg n c\r\nmg n c u h\r\nme n\r\n")]
    script(srv, fn, [b"HD c<1>\r\nHD c<1>\r\nTOUCHED\r\nHD c<1>\r\n"
                     b"VALUE k 0 1\r\na\r\nEND\r\nHD c<1>\r\nEX c0\r\nHD c<1>\r\n"
                     b"NS c0\r\nHD c<2>\r\nHD c<3>\r\n"
                     b"STORED\r\nHD c<4>\r\n3\r\nHD c<5>\r\n"
                     b"HD\r\nHD c<6> X W\r\nHD c<6> h1 Z X\r\n"
                     b"ME n exp=-1 la=0 cas=<6> fetch=yes cls=<cls> size=<size>\r\n"])


# ---- found by the meta fuzz target (tests/fuzz/fuzz_meta.c), ------------------
# ---- its request generator replayed against 1.6.18 -----------------------------

def test_flag_tokens_checked_by_every_command(srv):
    # 1.6.18 reads the tokens of C D F J M N R T for every command, used
    # or not (md and ma: one message for all)
    mexpect(srv, [b"set k 0 0 1\r\nx\r\n",
                  b"mg k J\r\nmg k Jx\r\nmg k D\r\nmg k Dx\r\nmg k Fx\r\nmg k J5 D5 F5 v\r\n",
                  b"ms k 1 J\r\nx\r\nms k 1 Dx\r\nx\r\nms k 1 R\r\nx\r\nmg k v\r\n",
                  b"md k J\r\nmd k Dx\r\nmd k R\r\nma k R\r\nma k F\r\nme k Jx\r\n"],
            [b"STORED\r\n",
             b"CLIENT_ERROR invalid numeric initial value\r\n"
             b"CLIENT_ERROR invalid numeric initial value\r\n"
             b"CLIENT_ERROR invalid numeric delta value\r\n"
             b"CLIENT_ERROR invalid numeric delta value\r\n"
             b"CLIENT_ERROR bad command line format\r\nVA 1\r\nx\r\n",
             b"CLIENT_ERROR invalid numeric initial value\r\n"
             b"CLIENT_ERROR invalid numeric delta value\r\n"
             b"CLIENT_ERROR bad token in command line format\r\nVA 1\r\nx\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\n" * 5 +
             b"ME k exp=-1 la=0 cas=<1> fetch=yes cls=<cls> size=<size>\r\n"])


def test_which_flag_error_is_reported(srv):
    # All flags are read first: an invalid or duplicate letter is reported
    # wherever it stands; of bad tokens, the last one's message (F has
    # none of its own); an overlong O only after all that (ms, md), and
    # after an invalid mode (ms, ma)
    o33 = b"O" + b"o" * 33
    mexpect(srv, [b"mg k Tx v v\r\nmg k Tx Z\r\nmg k Tx Jx\r\nmg k Jx Tx\r\n",
                  b"mg k Fx\r\nmg k Fx Tx\r\nmg k Tx Fx\r\nmg k Dx Fx\r\n",
                  b"mg !!!! b Tx\r\nmg !!!! Tx b\r\nmg !!!! b Fx\r\n",
                  b"ms k 2 F F\r\nab\r\nms k 2 Tx Z\r\nab\r\nms k 2 MZ Tx\r\nab\r\n",
                  b"ms k 2 " + o33 + b" Z\r\nab\r\nms k 2 " + o33 + b" Tx\r\nab\r\n"
                  b"ms k 2 " + o33 + b" MZ\r\nab\r\nms k 2 " + o33 + b"\r\nab\r\n",
                  b"md k " + o33 + b" Z\r\nmd k " + o33 + b"\r\n",
                  b"ma k " + o33 + b" MZ\r\nmg k MZ " + o33 + b"\r\n",
                  # bytes from 127 up are "duplicate" to 1.6.18
                  b"mg k \x80\r\nmg k v \xff\r\nmd k \x7f\r\n"],
            [b"CLIENT_ERROR duplicate flag\r\nCLIENT_ERROR invalid flag\r\n"
             b"CLIENT_ERROR invalid numeric initial value\r\n"
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR bad command line format\r\n"
             b"CLIENT_ERROR bad token in command line format\r\n"
             b"CLIENT_ERROR bad token in command line format\r\n"
             b"CLIENT_ERROR invalid numeric delta value\r\n",
             b"CLIENT_ERROR bad token in command line format\r\n"
             b"CLIENT_ERROR error decoding key\r\nCLIENT_ERROR error decoding key\r\n",
             b"CLIENT_ERROR duplicate flag\r\nCLIENT_ERROR invalid flag\r\n"
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"CLIENT_ERROR invalid flag\r\nCLIENT_ERROR bad token in command line format\r\n"
             b"CLIENT_ERROR invalid mode for ms M token\r\n"
             b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR invalid mode for ma M token\r\n"
             b"CLIENT_ERROR opaque token too long\r\n",
             b"CLIENT_ERROR duplicate flag\r\nCLIENT_ERROR duplicate flag\r\n"
             b"CLIENT_ERROR invalid or duplicate flag\r\n"])


def test_flag_numbers_read_as_1618(srv):
    # safe_strto*: white space may follow the number; "-0" is an unsigned 0
    # (and a '-' whose result still fits a positive 64-bit number passes)
    mexpect(srv, [b"set k 0 0 1\r\nx\r\nmg k T5\t t\r\nmg k t\r\nmg k T\t t\r\n",
                  b"mg k C-0 v\r\nmg k C99999\t v\r\nmg k C-1 v\r\nmg k C\t v\r\n",
                  b"ma n N0 J-0 v\r\nma m N0 J-9223372036854775809 v\r\nma n D-0 v\r\n",
                  b"ms j 1 F-0 T" + b"0" * 40 + b"7\r\ny\r\nmg j f t v\r\n"],
            [b"STORED\r\nHD t5\r\nHD t5\r\nCLIENT_ERROR bad token in command line format\r\n",
             b"VA 1\r\nx\r\nVA 1\r\nx\r\nCLIENT_ERROR bad token in command line format\r\n"
             b"CLIENT_ERROR bad token in command line format\r\n",
             b"VA 1\r\n0\r\nVA 19\r\n9223372036854775807\r\nVA 1\r\n0\r\n",
             b"HD\r\nVA 1 f0 t7\r\ny\r\n"])


def test_options_flags_too_long(srv):
    # A line of 20 tokens or more is refused (mg's message has an "are");
    # an ms's data is then not swallowed.  19 tokens pass.
    f17 = b" k J1 c t f h l O P L u T10 N10 R1 I v q"
    mexpect(srv, [b"mg k" + f17 + b"\r\nmn\r\n", b"mg k" + f17 + b" Z\r\n",
                  b"ms k 1" + f17[:-2] + b"\r\nx\r\nmn\r\n", b"ms k 1" + f17 + b"\r\nx\r\n",
                  b"md k" + f17 + b" Z\r\n", b"ma k" + f17 + b" D1\r\n",
                  b"ms k x" + f17 + b"\r\n", b"mg " + b"k" * 251 + f17 + b" Z\r\n"],
            [b"VA 0 kk c<1> t-1 f0 h0 l0 O W\r\n\r\nMN\r\n",
             b"CLIENT_ERROR options flags are too long\r\n",
             b"HD kk c<1> O\r\nMN\r\n", b"CLIENT_ERROR options flags too long\r\nERROR\r\n",
             b"CLIENT_ERROR options flags too long\r\n",
             b"CLIENT_ERROR options flags too long\r\n",
             b"CLIENT_ERROR options flags too long\r\n",
             b"CLIENT_ERROR bad command line format\r\n"])


def test_base64_keys_decoded_as_1618(srv):
    # memcached skips bytes outside the alphabet, takes '=' as a padding
    # digit and stops after the first padded group of four
    mexpect(srv, [b"mg key:2 b k\r\nmg ab=c b k\r\nmg YQ==YQ== b k\r\nmg ==YQ b k\r\n",
                  b"mg YWJj\x01 b k\r\nmg Y!W!J!j b k\r\nmg YQ=x b k\r\nmd YWJj\x01 b\r\n",
                  b"mg a=== b k\r\nmg YQ==YQ= b k\r\nmg abc b k\r\nmg ab=c c D b\r\n",
                  b"ms YW:Jj 1 b\r\nx\r\nmg YWJj b k v\r\nmg Y.W.J.j b k s\r\n",
                  # me decodes only with b right after the key
                  b"me a x b\r\nme a b\r\nme YWJj b\r\nme YWJj x b\r\nme key:2 b\r\n"],
            [b"EN kkey2 b\r\nEN kabA= b\r\nEN kYQ== b\r\nEN kAA== b\r\n",
             b"EN kYWJj b\r\nEN kYWJj b\r\nEN kYQA= b\r\nNF\r\n",
             b"CLIENT_ERROR error decoding key\r\nCLIENT_ERROR error decoding key\r\n"
             b"CLIENT_ERROR error decoding key\r\n"
             b"CLIENT_ERROR invalid numeric delta value\r\n",
             b"HD\r\nVA 1 kYWJj b\r\nx\r\nHD kYWJj b s1\r\n",
             b"EN\r\nCLIENT_ERROR bad command line format\r\n"
             b"ME YWJj exp=-1 la=0 cas=<1> fetch=yes cls=<cls> size=<size>\r\nEN\r\nEN\r\n"])


def test_N_and_T_act_in_request_order(srv):
    # On an item N creates (mg, ma): no TTL until N or T, the last one
    # wins; t reports the TTL where it stands.  With an overlong O, the
    # flags after the O never act.
    o33 = b"O" + b"o" * 33
    mexpect(srv, [b"mg a t N30\r\nmg a t\r\nmg b N30 t\r\nmg c T100 N30 t\r\nmg c t\r\n"
                  b"mg d N30 T100 t\r\nmg d t\r\n",
                  b"ma e t N30\r\nmg e t\r\nma f T100 N30 t\r\nmg f t\r\n"
                  b"ma g N30 T100 t\r\nmg g t\r\n",
                  b"mg h N30 " + o33 + b"\r\nmg h t\r\nmg i " + o33 + b" N30\r\nmg i t\r\n"
                  b"mg j N30 " + o33 + b" T100\r\nmg j t\r\n",
                  b"ma l " + o33 + b" N30\r\nmg l t\r\nma m N30 " + o33 + b"\r\nmg m t\r\n"
                  b"set n 0 0 1\r\n1\r\nma n " + o33 + b" T100\r\nmg n t\r\n"],
            [b"HD t-1 W\r\nHD t30 Z\r\nHD t30 W\r\nHD t30 W\r\nHD t30 Z\r\n"
             b"HD t100 W\r\nHD t100 Z\r\n",
             b"HD t-1\r\nHD t30\r\nHD t30\r\nHD t30\r\nHD t100\r\nHD t100\r\n",
             b"CLIENT_ERROR opaque token too long\r\nHD t30\r\n"
             b"CLIENT_ERROR opaque token too long\r\nHD t-1\r\n"
             b"CLIENT_ERROR opaque token too long\r\nHD t30\r\n",
             b"CLIENT_ERROR opaque token too long\r\nHD t-1\r\n"
             b"CLIENT_ERROR opaque token too long\r\nHD t30\r\n"
             b"STORED\r\nCLIENT_ERROR opaque token too long\r\nHD t-1\r\n"])


# ---- 1.6.45 behaviour (1.6.18 rejects these; pinned, ours only) -----------------

def test_v1645_E_sets_the_new_cas():
    # E<n>: the item's new CAS is n instead of the next number, whenever
    # the command writes the item (ms, md I, ma, mg N creating it); a
    # command that writes nothing (mg T) ignores it.  E0 means "no E".
    expect_1645([b"ms k 3 E1000100 c\r\nabc\r\nmg k c\r\n",
                 b"ms k 3 E1000050 c\r\nabc\r\nmg k c\r\ngets k\r\n",
                 b"ms k 3 C1000050 E1000077 c\r\nxyz\r\nmg k c v\r\n",
                 b"ms k 3 C1000050 E1000078 c\r\nxyz\r\n",
                 b"md k I E1000200\r\nmg k c v\r\n",
                 b"md k C1000200 E1000300 I\r\nmg k c\r\n",
                 b"set n 0 0 1\r\n5\r\nma n E1001000 c v\r\nmg n c\r\n",
                 b"ma miss N0 E1000042 c v\r\n",
                 b"mg nn N30 E1000999 c\r\n",
                 b"mg k E1000005 T100 c\r\n",
                 b"ms k 3 E0 c\r\nabc\r\nmg k c\r\n",
                 b"ms k 3 E18446744073709551615 c\r\nabc\r\nmg k c\r\n",
                 b"ms k 3 E18446744073709551616 c\r\nabc\r\n",
                 b"ms k 3 E-1 c\r\nabc\r\n", b"ms k 3 E\r\nabc\r\n", b"ms k 3 Eabc\r\nabc\r\n",
                 b"mg k E\r\n", b"mg k E1 E2\r\n", b"mn\r\n"],
                [b"HD c1000100\r\nHD c1000100\r\n",
                 b"HD c1000050\r\nHD c1000050\r\nVALUE k 0 3 1000050\r\nabc\r\nEND\r\n",
                 b"HD c1000077\r\nVA 3 c1000077\r\nxyz\r\n",
                 b"EX c0\r\n",
                 b"HD\r\nVA 3 c1000200 X W\r\nxyz\r\n",
                 b"HD\r\nHD c1000300 X W\r\n",
                 b"STORED\r\nVA 1 c1001000\r\n6\r\nHD c1001000\r\n",
                 b"VA 1 c1000042\r\n0\r\n",
                 b"HD c1000999 W\r\n",
                 b"HD c1000300 Z X\r\n",
                 b"HD c<1>\r\nHD c<1>\r\n",
                 b"HD c18446744073709551615\r\nHD c18446744073709551615\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR duplicate flag\r\n",
                 b"MN\r\n"])


def test_v1645_ms_s_returns_size():
    # s on ms: the stored value's length (the whole value after an append
    # or prepend); on NS/EX the request's length.
    expect_1645([b"ms k 3 s\r\nabc\r\n", b"ms k 2 s MA\r\nfg\r\nmg k s v\r\n",
                 b"ms k 2 s MP\r\nzz\r\n", b"ms k 2 s MP q\r\nzz\r\nmn\r\n",
                 b"ms k 2 s ME\r\nzz\r\n", b"ms nope 2 s MR\r\nzz\r\n",
                 b"ms nope 2 s MA\r\nzz\r\n", b"ms k 2 s C1\r\nzz\r\n",
                 b"ms k 0 s\r\n\r\n", b"ms k 2 s k O1\r\nzz\r\n", b"ms k 2 s1\r\nzz\r\n",
                 b"ms k 2 s s\r\nzz\r\n"],
                [b"HD s3\r\n", b"HD s5\r\nVA 5 s5\r\nabcfg\r\n",
                 b"HD s7\r\n", b"MN\r\n",
                 b"NS s2\r\n", b"NS s2\r\n", b"NS s2\r\n", b"EX s2\r\n",
                 b"HD s0\r\n", b"HD s2 kk O1\r\n", b"HD s2\r\n",
                 b"CLIENT_ERROR duplicate flag\r\n"])


def test_v1645_ms_append_N_vivifies():
    # N<ttl> in append/prepend mode: a miss creates the item from the data
    # (flags from F, TTL from N; T and C are ignored then); a hit appends
    # as usual.  N in other modes changes nothing.
    expect_1645([b"ms a 2 MA N30\r\nab\r\nmg a v t f\r\n",
                 b"ms a 2 MA N30\r\ncd\r\nmg a v t\r\n",
                 b"ms p 2 MP N0 F5\r\nab\r\nmg p v t f\r\n",
                 b"ms p2 2 MP N-1 F5\r\nab\r\nmg p2 v\r\n",
                 b"ms a3 2 MA N30 T100\r\nab\r\nmg a3 v t\r\n",
                 b"ms a6 2 MA N30 C5 c\r\nab\r\nmg a6 c\r\n",
                 b"ms a5 2 MA N30 q\r\nab\r\nmn\r\n",
                 b"ms r 2 MR N30\r\nab\r\nmg r v t\r\n",
                 b"ms s 2 MS N30 T5\r\nab\r\nmg s v t\r\n",
                 b"ms a4 2 MA N\r\nab\r\n", b"ms a4 2 MA Nx\r\nab\r\n"],
                [b"HD\r\nVA 2 t30 f0\r\nab\r\n",
                 b"HD\r\nVA 4 t30\r\nabcd\r\n",
                 b"HD\r\nVA 2 t-1 f5\r\nab\r\n",
                 b"HD\r\nEN\r\n",
                 b"HD\r\nVA 2 t30\r\nab\r\n",
                 b"HD c<1>\r\nHD c<1>\r\n",
                 b"MN\r\n",
                 b"NS\r\nEN\r\n",
                 b"HD\r\nVA 2 t5\r\nab\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n",
                 b"CLIENT_ERROR bad token in command line format\r\n"])


def test_v1645_md_x_empties_the_value():
    # x: the item stays, with an empty value, client flags 0 and no TTL
    # (T sets one); its CAS is kept unless I (stale, new CAS) or E.
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 5 100 3\r\nabc\r\nmg k c\r\n")]
            out.append(transact(c, b"md k x\r\nmg k v f t c s\r\nget k\r\n"))
            out.append(transact(c, b"md k x q\r\nmn\r\nmd zz x\r\nmd zz x q\r\nmn\r\n"))
            out.append(transact(c, b"set k 5 100 3\r\nabc\r\nmd k x I\r\nmg k v f t c\r\n"))
            out.append(transact(c, b"set k 5 100 3\r\nabc\r\nmd k x T5\r\nmg k v t\r\n"))
            out.append(transact(c, b"set k 5 100 3\r\nabc\r\nmd k x I T5\r\nmg k v t\r\n"))
            out.append(transact(c, b"set k 5 0 3\r\nabc\r\nmg k c\r\nmd k x C1\r\n"
                                b"md k x k O1\r\nmd k x1\r\n"))
            out.append(transact(c, b"set k 5 0 3\r\nabc\r\nmd k x E1000500\r\nmg k c\r\n"))
            out.append(transact(c, b"set n 0 0 2\r\n10\r\nmd n x\r\nma n v\r\n"
                                b"ms n 1 MA\r\n9\r\nmg n v\r\n"))
            return out
    ours_script(fn, [b"STORED\r\nHD c<1>\r\n",
                     b"HD\r\nVA 0 f0 t-1 c<1> s0\r\n\r\nVALUE k 0 0\r\n\r\nEND\r\n",
                     b"MN\r\nNF\r\nNF\r\nMN\r\n",
                     b"STORED\r\nHD\r\nVA 0 f0 t-1 c<2> X W\r\n\r\n",
                     b"STORED\r\nHD\r\nVA 0 t5\r\n\r\n",
                     b"STORED\r\nHD\r\nVA 0 t5 X W\r\n\r\n",
                     b"STORED\r\nHD c<3>\r\nEX\r\nHD kk O1\r\nHD\r\n",
                     b"STORED\r\nHD\r\nHD c1000500\r\n",
                     b"STORED\r\nHD\r\nCLIENT_ERROR cannot increment or decrement "
                     b"non-numeric value\r\nHD\r\nVA 1\r\n9\r\n"])


def test_v1645_mg_C_with_v():
    # mg C<cas> v: when C equals the item's CAS the value is not sent
    # (HD, with the other return flags); otherwise VA as usual.
    def fn(s):
        with s.connect() as c:
            out = [transact(c, b"set k 7 0 3\r\nabc\r\nmg k c\r\n")]
            cas = cas_of(out[0])
            out.append(transact(c, b"mg k C%d v\r\nmg k C%d v c\r\nmg k C%d v t f s k O1\r\n"
                                % (cas, cas, cas)))
            out.append(transact(c, b"mg k C%d v c\r\nmg k C%d v q\r\nmn\r\nmg k C%d\r\n"
                                b"mg miss C%d v\r\n" % (cas + 1, cas, cas, cas)))
            out.append(transact(c, b"mg k C%d T100 v t\r\nmg k t\r\n" % cas))
            return out
    ours_script(fn, [b"STORED\r\nHD c<1>\r\n",
                     b"HD\r\nHD c<1>\r\nHD t-1 f7 s3 kk O1\r\n",
                     b"VA 3 c<1>\r\nabc\r\nHD\r\nMN\r\nHD\r\nEN\r\n",
                     b"HD t100\r\nHD t100\r\n"])


def test_v1645_x_and_E_are_letters_of_every_command():
    # 1.6.45 checks flags against one letter set for all meta commands,
    # 1.6.18's set plus x and E: mg, ms and ma accept x and ignore it; E
    # only acts where the command writes the item.  (md's flag errors keep
    # 1.6.18's one wording, "invalid or duplicate flag": test_md_basic.)
    expect_1645([b"ms k 1 x\r\nz\r\nmg k v x\r\nmg k x1 v\r\n",
                 b"set n 0 0 1\r\n1\r\nma n x v\r\n",
                 b"mg k x x\r\n", b"ms k 1 x x\r\nz\r\n",
                 b"ms k 1 E1000005 x\r\nz\r\nmg k c E1000006\r\n",
                 b"mg k z\r\n", b"mn\r\n"],
                [b"HD\r\nVA 1\r\nz\r\nVA 1\r\nz\r\n",
                 b"STORED\r\nVA 1\r\n2\r\n",
                 b"CLIENT_ERROR duplicate flag\r\n", b"CLIENT_ERROR duplicate flag\r\n",
                 b"HD\r\nHD c1000005\r\n",
                 b"CLIENT_ERROR invalid flag\r\n", b"MN\r\n"])
