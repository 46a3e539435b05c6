"""ARCUS collections (lop, sop, mop, getattr, setattr, pipe): every reply
string written from the ARCUS protocol documents (naver/arcus-memcached
docs/ascii-protocol ch02-ch10).  memcached has no collections, so the
exact bytes are pinned on our server only (expect_ours); doc/collections.md
lists what the documents leave open and what we chose."""

from harness import expect_ours, transact, stats, check, eq


def test_lop_create_and_attrs(srv):
    expect_ours(srv, [b"lop create l 5 0 3\r\n", b"lop create l 5 0 3\r\n",
                      b"getattr l\r\n",
                      b"lop create u 1 0 0 head_trim unreadable\r\n",
                      b"getattr u overflowaction readable maxcount\r\n",
                      b"lop create n 0 0 3 noreply\r\n", b"getattr n type\r\n",
                      b"lop create big 0 0 999999\r\n", b"getattr big maxcount\r\n"],
                [b"CREATED\r\n", b"EXISTS\r\n",
                 b"ATTR flags=5\r\nATTR expiretime=0\r\nATTR type=list\r\nATTR count=0\r\n"
                 b"ATTR maxcount=3\r\nATTR overflowaction=tail_trim\r\nATTR readable=on\r\nEND\r\n",
                 b"CREATED\r\n",
                 b"ATTR overflowaction=head_trim\r\nATTR readable=off\r\nATTR maxcount=4000\r\nEND\r\n",
                 b"", b"ATTR type=list\r\nEND\r\n",
                 b"CREATED\r\n", b"ATTR maxcount=50000\r\nEND\r\n"])


def test_lop_create_errors(srv):
    expect_ours(srv, [b"lop create l\r\n", b"lop create l 0 0\r\n", b"lop create l x 0 3\r\n",
                      b"lop create l 0 0 3 bogus\r\n", b"lop frob l\r\n",
                      b"set kv 0 0 1\r\nx\r\n", b"lop create kv 0 0 3\r\n"],
                [b"CLIENT_ERROR bad command line format\r\n"] * 4 +
                [b"ERROR\r\n", b"STORED\r\n", b"EXISTS\r\n"])


def test_lop_insert_get(srv):
    expect_ours(srv, [b"lop insert l 0 1\r\na\r\n",
                      b"lop insert l 0 1 create 9 0 0\r\nb\r\n",
                      b"lop insert l 0 1\r\na\r\n", b"lop insert l -1 1\r\nd\r\n",
                      b"lop insert l -2 1\r\nc\r\n", b"lop insert l 9 1\r\nx\r\n",
                      b"lop insert l -6 1\r\nx\r\n",
                      b"lop get l 0..-1\r\n", b"lop get l -1..0\r\n", b"lop get l 1\r\n",
                      b"lop get l 2..100\r\n", b"lop get l 4..9\r\n", b"lop get l 4\r\n",
                      b"lop get nope 0\r\n"],
                [b"NOT_FOUND\r\n", b"CREATED_STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"STORED\r\n", b"OUT_OF_RANGE\r\n", b"OUT_OF_RANGE\r\n",
                 b"VALUE 9 4\r\n1 a\r\n1 b\r\n1 c\r\n1 d\r\nEND\r\n",
                 b"VALUE 9 4\r\n1 d\r\n1 c\r\n1 b\r\n1 a\r\nEND\r\n",
                 b"VALUE 9 1\r\n1 b\r\nEND\r\n",
                 b"VALUE 9 2\r\n1 c\r\n1 d\r\nEND\r\n",
                 b"NOT_FOUND_ELEMENT\r\n", b"NOT_FOUND_ELEMENT\r\n", b"NOT_FOUND\r\n"])


def test_lop_delete_and_get_delete(srv):
    expect_ours(srv, [b"lop create l 0 0 0\r\n"] +
                [b"lop insert l -1 2\r\ne%d\r\n" % i for i in range(5)] +
                [b"lop get l 0..1 delete\r\n", b"lop delete l 0\r\n",
                 b"lop delete l 5..9\r\n", b"lop get l 0..-1\r\n",
                 b"lop get l 0..-1 drop\r\n", b"lop get l 0\r\n",
                 b"lop insert m 0 1 create 0 0 0\r\nz\r\n", b"lop delete m 0 drop\r\n",
                 b"lop delete m 0\r\n",
                 b"lop insert m 0 1 create 0 0 0\r\nz\r\n", b"lop delete m 0\r\n",
                 b"getattr m count\r\n", b"lop delete m 0 noreply\r\n"],
                [b"CREATED\r\n"] + [b"STORED\r\n"] * 5 +
                [b"VALUE 0 2\r\n2 e0\r\n2 e1\r\nDELETED\r\n", b"DELETED\r\n",
                 b"NOT_FOUND_ELEMENT\r\n", b"VALUE 0 2\r\n2 e3\r\n2 e4\r\nEND\r\n",
                 b"VALUE 0 2\r\n2 e3\r\n2 e4\r\nDELETED_DROPPED\r\n", b"NOT_FOUND\r\n",
                 b"CREATED_STORED\r\n", b"DELETED_DROPPED\r\n", b"NOT_FOUND\r\n",
                 b"CREATED_STORED\r\n", b"DELETED\r\n", b"ATTR count=0\r\nEND\r\n",
                 b""])


def test_lop_overflow_actions(srv):
    ins = lambda k, i, v: b"lop insert %s %d 1\r\n%s\r\n" % (k, i, v)
    expect_ours(srv, [b"lop create t 0 0 2\r\n", ins(b"t", -1, b"a"), ins(b"t", -1, b"b"),
                      ins(b"t", 0, b"c"), b"lop get t 0..-1\r\n",
                      b"lop create h 0 0 2 head_trim\r\n", ins(b"h", -1, b"a"),
                      ins(b"h", -1, b"b"), ins(b"h", -1, b"c"), b"lop get h 0..-1\r\n",
                      b"lop create e 0 0 2 error\r\n", ins(b"e", -1, b"a"),
                      ins(b"e", -1, b"b"), ins(b"e", -1, b"c"), b"lop get e 0..-1\r\n"],
                [b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n1 c\r\n1 a\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n1 b\r\n1 c\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"OVERFLOWED\r\n",
                 b"VALUE 0 2\r\n1 a\r\n1 b\r\nEND\r\n"])


def test_element_size_and_data_chunk(srv):
    big = b"x" * 16382
    expect_ours(srv, [b"lop create l 0 0 0\r\n",
                      b"lop insert l 0 16382\r\n" + big + b"\r\n",
                      b"lop insert l 0 16383\r\n" + big + b"x\r\n",
                      b"lop insert l 0 3\r\nabcXY", b"lop get l 0..-1\r\n",
                      b"sop insert s 2 create 0 0 0\r\nxyz\r\n"],
                [b"CREATED\r\n", b"STORED\r\n", b"CLIENT_ERROR too large value\r\n",
                 b"CLIENT_ERROR bad data chunk\r\n",
                 b"VALUE 0 1\r\n16382 " + big + b"\r\nEND\r\n",
                 # as for set: the 2 bytes after the data were not \r\n;
                 # what follows them (\n) is read as a line
                 b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"])


def test_sop(srv):
    expect_ours(srv, [b"sop insert s 1\r\na\r\n", b"sop create s 3 0 0\r\n",
                      b"sop insert s 1\r\na\r\n", b"sop insert s 1\r\na\r\n",
                      b"sop exist s 1\r\na\r\n", b"sop exist s 1\r\nb\r\n",
                      b"sop get s 0\r\n", b"sop get s 1001\r\n", b"sop get s 5\r\n",
                      b"sop delete s 1\r\nb\r\n", b"sop delete s 1 drop\r\na\r\n",
                      b"sop exist s 1\r\na\r\n",
                      b"sop create e 0 0 1\r\n", b"sop insert e 1\r\na\r\n",
                      b"sop insert e 1\r\nb\r\n", b"sop get e 0 delete\r\n",
                      b"sop get e 0\r\n", b"sop delete e 1\r\na\r\n",
                      b"sop create t 0 0 1 tail_trim\r\n"],
                [b"NOT_FOUND\r\n", b"CREATED\r\n", b"STORED\r\n", b"ELEMENT_EXISTS\r\n",
                 b"EXIST\r\n", b"NOT_EXIST\r\n", b"VALUE 3 1\r\n1 a\r\nEND\r\n",
                 b"CLIENT_ERROR invalid: too many count\r\n",
                 b"VALUE 3 1\r\n1 a\r\nEND\r\n",
                 b"NOT_FOUND_ELEMENT\r\n", b"DELETED_DROPPED\r\n", b"NOT_FOUND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"OVERFLOWED\r\n",
                 b"VALUE 0 1\r\n1 a\r\nDELETED\r\n", b"NOT_FOUND_ELEMENT\r\n",
                 b"NOT_FOUND_ELEMENT\r\n",
                 b"CREATED\r\n"])


def test_sop_get_random_count(srv):
    with srv[0].connect() as c:
        eq(transact(c, b"sop create s 0 0 0\r\n"), b"CREATED\r\n")
        for i in range(50):
            eq(transact(c, b"sop insert s 3\r\nv%02d\r\n" % i), b"STORED\r\n")
        out = transact(c, b"sop get s 10\r\n")
        lines = out.split(b"\r\n")
        eq(lines[0], b"VALUE 0 10")
        vals = [l.split(b" ")[1] for l in lines[1:11]]
        eq(len(set(vals)), 10, "distinct elements")
        check(all(v.startswith(b"v") for v in vals), "values")
        eq(lines[11:], [b"END", b""])


def test_mop(srv):
    expect_ours(srv, [b"mop insert m f1 3\r\none\r\n",
                      b"mop insert m f1 3 create 4 0 0\r\none\r\n",
                      b"mop insert m f1 1\r\nx\r\n", b"mop insert m f2 3\r\ntwo\r\n",
                      b"mop upsert m f2 3\r\nTWO\r\n", b"mop upsert m f3 1\r\n3\r\n",
                      b"mop update m f3 5\r\nthree\r\n", b"mop update m f9 1\r\nx\r\n",
                      b"mop get m 8 3\r\nf3 f1 f9\r\n", b"mop get m 2 1\r\nf9\r\n",
                      b"mop get m 5 1\r\nf1 f2\r\n",
                      b"mop get m 2 1 delete\r\nf1\r\n",
                      b"mop delete m 5 2\r\nf1,f9\r\n", b"mop delete m 2 1\r\nf2\r\n",
                      b"mop delete m 0 0 drop\r\n", b"mop get m 0 0\r\n"],
                [b"NOT_FOUND\r\n", b"CREATED_STORED\r\n", b"ELEMENT_EXISTS\r\n",
                 b"STORED\r\n", b"REPLACED\r\n", b"STORED\r\n", b"UPDATED\r\n",
                 b"NOT_FOUND_ELEMENT\r\n",
                 b"VALUE 4 2\r\nf3 5 three\r\nf1 3 one\r\nEND\r\n",
                 b"NOT_FOUND_ELEMENT\r\n",
                 b"CLIENT_ERROR bad data chunk\r\n",
                 b"VALUE 4 1\r\nf1 3 one\r\nDELETED\r\n",
                 b"NOT_FOUND_ELEMENT\r\n", b"DELETED\r\n",
                 b"DELETED_DROPPED\r\n", b"NOT_FOUND\r\n"],
                )


def test_type_mismatch(srv):
    expect_ours(srv, [b"set kv 0 0 1\r\nx\r\n", b"lop insert kv 0 1\r\na\r\n",
                      b"sop exist kv 1\r\na\r\n", b"mop get kv 0 0\r\n",
                      b"lop create l 7 0 0\r\n", b"sop insert l 1\r\na\r\n",
                      b"get l\r\n", b"gets l kv\r\n", b"set l 0 0 1\r\ny\r\n",
                      b"add l 0 0 1\r\ny\r\n", b"append l 0 0 1\r\ny\r\n",
                      b"incr l 1\r\n", b"touch l 100\r\n",
                      b"getattr l expiretime\r\n", b"delete l\r\n", b"getattr l\r\n"],
                [b"STORED\r\n", b"TYPE_MISMATCH\r\n", b"TYPE_MISMATCH\r\n",
                 b"TYPE_MISMATCH\r\n", b"CREATED\r\n", b"TYPE_MISMATCH\r\n",
                 b"END\r\n", b"VALUE kv 0 1 <CAS>\r\nx\r\nEND\r\n", b"TYPE_MISMATCH\r\n",
                 b"TYPE_MISMATCH\r\n", b"TYPE_MISMATCH\r\n", b"TYPE_MISMATCH\r\n",
                 b"TOUCHED\r\n", b"ATTR expiretime=100\r\nEND\r\n", b"DELETED\r\n",
                 b"NOT_FOUND\r\n"])


def test_getattr_setattr(srv):
    expect_ours(srv, [b"set kv 3 0 1\r\nx\r\n", b"getattr kv\r\n", b"getattr kv count\r\n",
                      b"getattr kv bogus\r\n", b"getattr nope\r\n",
                      b"setattr kv expiretime=100\r\n", b"getattr kv expiretime\r\n",
                      b"setattr kv maxcount=10\r\n",
                      b"mop create m 0 0 0\r\n",
                      b"setattr m maxcount=5 overflowaction=error\r\n",
                      b"setattr m overflowaction=head_trim\r\n",
                      b"setattr m overflowaction=bogus\r\n", b"setattr m readable=maybe\r\n",
                      b"setattr m colour=red\r\n", b"setattr m\r\n", b"setattr m maxcount\r\n",
                      b"setattr m readable=off\r\n", b"mop get m 0 0\r\n",
                      b"setattr m expiretime=-1 readable=on\r\n",
                      b"getattr m expiretime maxcount readable\r\n",
                      b"setattr nope readable=on\r\n"],
                [b"STORED\r\n", b"ATTR flags=3\r\nATTR expiretime=0\r\nATTR type=kv\r\nEND\r\n",
                 b"ATTR_ERROR not found\r\n", b"ATTR_ERROR not found\r\n", b"NOT_FOUND\r\n",
                 b"OK\r\n", b"ATTR expiretime=100\r\nEND\r\n", b"ATTR_ERROR not found\r\n",
                 b"CREATED\r\n", b"OK\r\n", b"ATTR_ERROR bad value\r\n",
                 b"ATTR_ERROR bad value\r\n", b"ATTR_ERROR bad value\r\n",
                 b"ATTR_ERROR not found\r\n", b"CLIENT_ERROR bad command line format\r\n",
                 b"CLIENT_ERROR bad command line format\r\n",
                 b"OK\r\n", b"UNREADABLE\r\n", b"OK\r\n",
                 b"ATTR expiretime=-1\r\nATTR maxcount=5\r\nATTR readable=on\r\nEND\r\n",
                 b"NOT_FOUND\r\n"])


def test_pipe(srv):
    p = b"".join(b"lop insert l -1 6 pipe\r\ndatum%d\r\n" % i for i in range(9))
    expect_ours(srv, [b"lop create l 0 0 0\r\n",
                      p + b"lop insert l -1 6\r\ndatum9\r\n",
                      b"lop insert l 99 1 pipe\r\nx\r\nsop insert l 1 pipe\r\nx\r\n"
                      b"lop delete l 0\r\n",
                      # an error ends the pipe; the rest of it is skipped
                      b"lop insert l 0 1 pipe\r\na\r\nlop insert l 0 2 pipe\r\nabXY"
                      b"lop insert l 0 1 pipe\r\nb\r\nlop insert l 0 1\r\nc\r\n",
                      b"lop get l 0..1\r\n",
                      # a plain command ends an open pipe
                      b"lop insert l 0 1 pipe\r\nd\r\nget x\r\n"],
                [b"CREATED\r\n",
                 b"RESPONSE 10\r\n" + b"STORED\r\n" * 10 + b"END\r\n",
                 b"RESPONSE 3\r\nOUT_OF_RANGE\r\nTYPE_MISMATCH\r\nDELETED\r\nEND\r\n",
                 b"RESPONSE 2\r\nSTORED\r\nCLIENT_ERROR bad data chunk\r\n"
                 b"PIPE_ERROR bad error\r\n",
                 b"VALUE 0 2\r\n1 a\r\n6 datum1\r\nEND\r\n",
                 b"RESPONSE 1\r\nSTORED\r\nEND\r\nEND\r\n"])


def test_pipe_overflow(srv):
    many = b"".join(b"sop insert s 4 pipe\r\n%04d\r\n" % i for i in range(501))
    expect_ours(srv, [b"sop create s 0 0 0\r\n", many + b"sop insert s 4\r\nlast\r\n",
                      b"getattr s count\r\n"],
                [b"CREATED\r\n",
                 b"RESPONSE 500\r\n" + b"STORED\r\n" * 500 +
                 b"PIPE_ERROR command overflow\r\n",
                 b"ATTR count=500\r\nEND\r\n"])


def test_noreply_and_stats(srv):
    with srv[0].connect() as c:
        eq(transact(c, b"lop create l 0 0 0 noreply\r\nlop insert l 0 1 noreply\r\na\r\n"
                       b"sop insert s 1 create 0 0 0 noreply\r\nb\r\n"
                       b"mop insert m f 1 create 0 0 0 noreply\r\nc\r\n"
                       b"mop update m f 1 noreply\r\nd\r\n"
                       b"lop delete l 0 noreply\r\n"), b"")
        st = stats(c, b"collections")[0]
        eq((st["cmd_lop_create"], st["cmd_lop_insert"], st["cmd_sop_insert"],
            st["cmd_mop_insert"], st["cmd_mop_update"], st["cmd_lop_delete"]),
           ("1", "1", "1", "1", "1", "1"))
        g = stats(c)[0]
        eq(g["curr_items"], "3")
        before = int(g["bytes"])
        for i in range(100):
            transact(c, b"lop insert l -1 100 noreply\r\n" + b"x" * 100 + b"\r\n")
        after = int(stats(c)[0]["bytes"])
        check(after - before >= 100 * 100, "bytes grew with the elements: %d" % (after - before))
        eq(transact(c, b"delete l\r\n"), b"DELETED\r\n")
        eq(int(stats(c)[0]["bytes"]) < before, True, "bytes back")


def test_expiry_whole(srv):
    expect_ours(srv, [b"lop create l 0 -1 0\r\n", b"getattr l expiretime\r\n",
                      b"lop insert e 0 1 create 0 1 0\r\na\r\n"],
                [b"CREATED\r\n", b"ATTR expiretime=-1\r\nEND\r\n", b"CREATED_STORED\r\n"])
    import time
    for _ in range(40):
        with srv[0].connect() as c:
            if transact(c, b"lop get e 0\r\n") == b"NOT_FOUND\r\n":
                break
        time.sleep(0.1)
    with srv[0].connect() as c:
        eq(transact(c, b"lop get e 0\r\n"), b"NOT_FOUND\r\n")


def test_split_at_every_byte(srv):
    req = (b"lop insert l 0 3 create 1 0 0\r\nabc\r\nmop insert m f 2 create 0 0 0\r\nxy\r\n"
           b"mop get m 1 1\r\nf\r\nlop get l 0\r\n")
    want = (b"CREATED_STORED\r\nCREATED_STORED\r\nVALUE 0 1\r\nf 2 xy\r\nEND\r\n"
            b"VALUE 1 1\r\n3 abc\r\nEND\r\n")
    with srv[0].connect() as c:
        for b in req:
            c.send(bytes([b]))
        eq(transact(c, b""), want)


def test_mop_get_all(srv):
    with srv[0].connect() as c:
        for f, v in ((b"f1", b"one"), (b"f2", b"TWO"), (b"f3", b"three")):
            eq(transact(c, b"mop insert m %s %d create 4 0 0\r\n%s\r\n" % (f, len(v), v)),
               b"CREATED_STORED\r\n" if f == b"f1" else b"STORED\r\n")
        out = transact(c, b"mop get m 0 0\r\n").split(b"\r\n")
        eq(out[0], b"VALUE 4 3")
        eq(sorted(out[1:4]), [b"f1 3 one", b"f2 3 TWO", b"f3 5 three"])   # hash order
        eq(out[4:], [b"END", b""])


# ---- b+tree (bop, ch08) ----

def bins(k, bkey, v, extra=b""):
    return b"bop insert %s %s %s%d%s\r\n%s\r\n" % (
        k, bkey, b"", len(v), extra, v)


def test_bop_create_insert_get(srv):
    expect_ours(srv, [b"bop create b 5 0\r\n", b"bop create b 5 0 3\r\n",
                      b"bop insert b 10 5\r\nhello\r\n", b"bop insert b 10 5\r\nagain\r\n",
                      b"bop insert b 20 0x0A0B 3\r\nabc\r\n", b"bop insert b 0x01 2\r\nhi\r\n",
                      b"bop insert nope 1 1\r\nx\r\n",
                      b"bop insert n2 0x00FF 1 create 3 0 0\r\nx\r\n",
                      b"bop get b 0..100\r\n", b"bop get b 100..0\r\n", b"bop get b 10\r\n",
                      b"bop get b 11..19\r\n", b"bop get b 0..100 1 1\r\n",
                      b"bop get b 0..100 1\r\n", b"bop get n2 0x00..0xFF\r\n",
                      b"bop get n2 1\r\n", b"bop get nope 1\r\n",
                      b"getattr b\r\n", b"getattr n2 minbkey maxbkey type\r\n",
                      b"lop create l 0 0 0\r\n", b"bop insert l 1 1\r\nx\r\n",
                      b"bop get l 1\r\n", b"getattr l maxbkeyrange\r\n"],
                [b"CREATED\r\n", b"EXISTS\r\n", b"STORED\r\n", b"ELEMENT_EXISTS\r\n",
                 b"STORED\r\n", b"BKEY_MISMATCH\r\n", b"NOT_FOUND\r\n", b"CREATED_STORED\r\n",
                 b"VALUE 5 2\r\n10 5 hello\r\n20 0x0A0B 3 abc\r\nEND\r\n",
                 b"VALUE 5 2\r\n20 0x0A0B 3 abc\r\n10 5 hello\r\nEND\r\n",
                 b"VALUE 5 1\r\n10 5 hello\r\nEND\r\n",
                 b"NOT_FOUND_ELEMENT\r\n",
                 b"VALUE 5 1\r\n20 0x0A0B 3 abc\r\nEND\r\n",
                 b"VALUE 5 1\r\n10 5 hello\r\nEND\r\n",
                 b"VALUE 3 1\r\n0x00FF 1 x\r\nEND\r\n", b"BKEY_MISMATCH\r\n", b"NOT_FOUND\r\n",
                 b"ATTR flags=5\r\nATTR expiretime=0\r\nATTR type=b+tree\r\nATTR count=2\r\n"
                 b"ATTR maxcount=4000\r\nATTR overflowaction=smallest_trim\r\nATTR readable=on\r\n"
                 b"ATTR maxbkeyrange=0\r\nATTR minbkey=10\r\nATTR maxbkey=20\r\nATTR trimmed=0\r\n"
                 b"END\r\n",
                 b"ATTR minbkey=0x00FF\r\nATTR maxbkey=0x00FF\r\nATTR type=b+tree\r\nEND\r\n",
                 b"CREATED\r\n", b"TYPE_MISMATCH\r\n", b"TYPE_MISMATCH\r\n",
                 b"ATTR_ERROR not found\r\n"])


def test_bop_syntax_errors(srv):
    # (a line whose length token is not reached has no data block to skip)
    expect_ours(srv, [b"bop create b\r\n", b"bop insert b 0x1 1\r\n",
                      b"bop insert b 0xZZ 1\r\n", b"bop insert b 1 0xABC 1\r\n",
                      b"bop insert b 1 16383\r\n" + b"x" * 16383 + b"\r\n",
                      b"bop insert b 1 2 create 0 0 5\r\nxyzw\r\n",
                      b"bop get b 1..0x01\r\n", b"bop get b 1 0 XX 0x01\r\n",
                      b"bop pwg b 1 asc 101\r\n", b"bop gbp b up 0\r\n",
                      b"bop position b 1\r\n", b"bop incr b 1 0\r\n",
                      b"bop update b 1 -1\r\n", b"bop frob b\r\n",
                      b"bop insert b 1 1 noreply getrim\r\nx\r\n"],
                [b"CLIENT_ERROR bad command line format\r\n"] * 4 +
                [b"CLIENT_ERROR too large value\r\n",
                 b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"] +   # ("zw" is a line)
                [b"CLIENT_ERROR bad command line format\r\n"] * 6 +
                [b"NOTHING_TO_UPDATE\r\n", b"ERROR\r\n",
                 b"CLIENT_ERROR bad command line format\r\n"])


def test_bop_overflow_actions(srv):
    ins = lambda k, b: b"bop insert %s %d 1\r\nv\r\n" % (k, b)
    expect_ours(srv, [b"bop create s 0 0 2\r\n", ins(b"s", 10), ins(b"s", 20), ins(b"s", 30),
                      ins(b"s", 5), b"bop get s 0..100\r\n", b"bop get s 100..0 1\r\n",
                      b"bop get s 0..15\r\n", b"getattr s trimmed\r\n",
                      b"bop create g 0 0 2 largest_trim\r\n", ins(b"g", 10), ins(b"g", 20),
                      ins(b"g", 5), ins(b"g", 30), b"bop get g 0..100\r\n",
                      b"bop get g 100..0\r\n", b"bop get g 0..9\r\n", b"bop get g 9..0 1\r\n",
                      b"bop create e 0 0 2 error\r\n", ins(b"e", 1), ins(b"e", 2), ins(b"e", 3),
                      b"bop create q 0 0 2 smallest_silent_trim\r\n", ins(b"q", 1), ins(b"q", 2),
                      ins(b"q", 3), b"bop get q 0..9\r\n", b"getattr q trimmed\r\n",
                      b"bop create w 0 0 2 largest_silent_trim\r\n", ins(b"w", 1), ins(b"w", 2),
                      ins(b"w", 0), b"bop get w 0..9\r\n",
                      b"bop create r 7 0 2\r\n", ins(b"r", 1), ins(b"r", 2),
                      b"bop insert r 3 1 getrim\r\nz\r\n",
                      b"setattr r overflowaction=head_trim\r\n",
                      b"setattr r overflowaction=largest_trim\r\n"],
                [b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n", b"OUT_OF_RANGE\r\n",
                 b"VALUE 0 2\r\n20 1 v\r\n30 1 v\r\nTRIMMED\r\n",
                 b"VALUE 0 1\r\n30 1 v\r\nEND\r\n", b"OUT_OF_RANGE\r\n",
                 b"ATTR trimmed=1\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n", b"OUT_OF_RANGE\r\n",
                 b"VALUE 0 2\r\n5 1 v\r\n10 1 v\r\nTRIMMED\r\n",
                 b"VALUE 0 2\r\n10 1 v\r\n5 1 v\r\nTRIMMED\r\n",
                 b"VALUE 0 1\r\n5 1 v\r\nEND\r\n", b"VALUE 0 1\r\n5 1 v\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"OVERFLOWED\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n2 1 v\r\n3 1 v\r\nEND\r\n", b"ATTR trimmed=0\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n0 1 v\r\n1 1 v\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 7 1\r\n1 1 v\r\nTRIMMED\r\n",
                 b"ATTR_ERROR bad value\r\n", b"OK\r\n"])


def test_bop_maxbkeyrange(srv):
    ins = lambda k, b: b"bop insert %s %d 1\r\nv\r\n" % (k, b)
    expect_ours(srv, [b"bop create m 0 0 100\r\n", b"setattr m maxbkeyrange=10\r\n",
                      ins(b"m", 1), ins(b"m", 5), ins(b"m", 12), b"bop get m 0..100\r\n",
                      ins(b"m", 0), b"getattr m maxbkeyrange minbkey maxbkey trimmed\r\n",
                      b"setattr m maxbkeyrange=0x10\r\n",
                      b"bop create me 0 0 100 error\r\n", b"setattr me maxbkeyrange=10\r\n",
                      ins(b"me", 1), ins(b"me", 12),
                      b"bop create ml 0 0 100 largest_trim\r\n",
                      b"setattr ml maxbkeyrange=10\r\n", ins(b"ml", 20), ins(b"ml", 25),
                      ins(b"ml", 12), b"bop get ml 0..100\r\n", ins(b"ml", 40),
                      b"setattr m maxbkeyrange=0\r\n", ins(b"m", 0)],
                [b"CREATED\r\n", b"OK\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n5 1 v\r\n12 1 v\r\nEND\r\n", b"OUT_OF_RANGE\r\n",
                 b"ATTR maxbkeyrange=10\r\nATTR minbkey=5\r\nATTR maxbkey=12\r\n"
                 b"ATTR trimmed=0\r\nEND\r\n",
                 b"ATTR_ERROR bad value\r\n",
                 b"CREATED\r\n", b"OK\r\n", b"STORED\r\n", b"OVERFLOWED\r\n",
                 b"CREATED\r\n", b"OK\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 2\r\n12 1 v\r\n20 1 v\r\nEND\r\n", b"OUT_OF_RANGE\r\n",
                 b"OK\r\n", b"STORED\r\n"])


def test_bop_eflag_filters_and_update(srv):
    ins = lambda b, e: b"bop insert f %d %s 1\r\nv\r\n" % (b, e)
    expect_ours(srv, [ins(1, b"0x0001") .replace(b"1\r\nv", b"1 create 0 0 0\r\nv"),
                      ins(2, b"0x0102"), ins(3, b"0x0203"), b"bop insert f 4 1\r\nv\r\n",
                      b"bop get f 0..9 0 EQ 0x0102\r\n", b"bop get f 0..9 0 NE 0x0102\r\n",
                      b"bop get f 0..9 0 EQ 0x0001,0x0203\r\n",
                      b"bop get f 0..9 1 LT 0x02\r\n", b"bop get f 0..9 1 LE 0x02\r\n",
                      b"bop get f 0..9 1 GT 0x02\r\n", b"bop get f 0..9 1 GE 0x02\r\n",
                      b"bop get f 0..9 0 & 0x0100 EQ 0x0100\r\n",
                      b"bop get f 0..9 0 | 0x0100 EQ 0x0102\r\n",
                      b"bop get f 0..9 0 ^ 0x0203 EQ 0x0000\r\n",
                      b"bop count f 0..9 0 EQ 0x0102\r\n", b"bop count f 0..9\r\n",
                      b"bop update f 2 0x09 -1\r\n", b"bop update f 3 1 & 0x01 3\r\nnew\r\n",
                      b"bop update f 4 1 | 0x01 -1\r\n", b"bop update f 1 0 -1\r\n",
                      b"bop update f 9 1\r\nx\r\n", b"bop update f 0x01 1\r\nx\r\n",
                      b"bop get f 0..9\r\n",
                      b"bop delete f 0..9 0 EQ 0x09 noreply\r\n", b"bop delete f 0..9 1\r\n",
                      b"bop delete f 0..9 0 EQ 0x77\r\n", b"bop get f 0..9\r\n",
                      b"bop delete f 0..9 drop\r\n", b"bop get f 0..9\r\n"],
                [b"CREATED_STORED\r\n", b"STORED\r\n", b"STORED\r\n", b"STORED\r\n",
                 b"VALUE 0 1\r\n2 0x0102 1 v\r\nEND\r\n",
                 b"VALUE 0 3\r\n1 0x0001 1 v\r\n3 0x0203 1 v\r\n4 1 v\r\nEND\r\n",
                 b"VALUE 0 2\r\n1 0x0001 1 v\r\n3 0x0203 1 v\r\nEND\r\n",
                 b"VALUE 0 1\r\n1 0x0001 1 v\r\nEND\r\n",
                 b"VALUE 0 2\r\n1 0x0001 1 v\r\n2 0x0102 1 v\r\nEND\r\n",
                 b"VALUE 0 1\r\n3 0x0203 1 v\r\nEND\r\n",
                 b"VALUE 0 2\r\n2 0x0102 1 v\r\n3 0x0203 1 v\r\nEND\r\n",
                 b"VALUE 0 1\r\n2 0x0102 1 v\r\nEND\r\n",
                 b"VALUE 0 1\r\n2 0x0102 1 v\r\nEND\r\n",
                 b"VALUE 0 1\r\n3 0x0203 1 v\r\nEND\r\n",
                 b"COUNT=1\r\n", b"COUNT=4\r\n",
                 b"UPDATED\r\n", b"UPDATED\r\n", b"EFLAG_MISMATCH\r\n", b"UPDATED\r\n",
                 b"NOT_FOUND_ELEMENT\r\n", b"BKEY_MISMATCH\r\n",
                 b"VALUE 0 4\r\n1 1 v\r\n2 0x09 1 v\r\n3 0x0201 3 new\r\n4 1 v\r\nEND\r\n",
                 b"", b"DELETED\r\n", b"NOT_FOUND_ELEMENT\r\n",
                 b"VALUE 0 2\r\n3 0x0201 3 new\r\n4 1 v\r\nEND\r\n",
                 b"DELETED_DROPPED\r\n", b"NOT_FOUND\r\n"])


def test_bop_get_delete_incr_positions(srv):
    ins = lambda b, v: b"bop insert p %d %d\r\n%s\r\n" % (b, len(v), v)
    outs = expect_ours(srv, [b"bop create p 3 0 0\r\n"] + [ins(b, b"%d" % b) for b in (10, 20, 30, 40, 50)] +
                [b"bop position p 30 asc\r\n", b"bop position p 30 desc\r\n",
                 b"bop position p 35 asc\r\n", b"bop position p 0x01 asc\r\n",
                 b"bop gbp p asc 0\r\n", b"bop gbp p desc 0..1\r\n", b"bop gbp p asc 3..9\r\n",
                 b"bop gbp p asc 9\r\n", b"bop pwg p 20 asc 2\r\n", b"bop pwg p 20 desc\r\n",
                 b"bop pwg p 25 asc 1\r\n",
                 b"bop incr p 10 5\r\n", b"bop decr p 20 100\r\n", b"bop incr p 60 1\r\n",
                 b"bop incr p 60 1 7 0x01\r\n", b"bop incr p 60 1 noreply\r\n",
                 b"bop upsert p 70 2\r\nab\r\n", b"bop upsert p 70 2\r\ncd\r\n",
                 b"bop incr p 70 1\r\n",
                 b"bop get p 0..100 1 2 delete\r\n", b"bop get p 100..0\r\n",
                 b"bop get p 0..100 0 EQ 0x01 drop\r\n", b"bop get p 0..100 drop\r\n",
                 b"bop get p 0..100\r\n"],
                [b"CREATED\r\n"] + [b"STORED\r\n"] * 5 +
                [b"POSITION=2\r\n", b"POSITION=2\r\n", b"NOT_FOUND_ELEMENT\r\n",
                 b"BKEY_MISMATCH\r\n",
                 b"VALUE 3 1\r\n10 2 10\r\nEND\r\n",
                 b"VALUE 3 2\r\n50 2 50\r\n40 2 40\r\nEND\r\n",
                 b"VALUE 3 2\r\n40 2 40\r\n50 2 50\r\nEND\r\n", b"NOT_FOUND_ELEMENT\r\n",
                 # (the harness masks a VALUE line's 4th number as a CAS;
                 # the exact bytes are checked below)
                 b"VALUE 1 3 4 <CAS>\r\n10 2 10\r\n20 2 20\r\n30 2 30\r\n40 2 40\r\nEND\r\n",
                 b"VALUE 3 3 1 <CAS>\r\n20 2 20\r\nEND\r\n", b"NOT_FOUND_ELEMENT\r\n",
                 b"15\r\n", b"0\r\n", b"NOT_FOUND_ELEMENT\r\n", b"7\r\n", b"",
                 b"STORED\r\n", b"REPLACED\r\n",
                 b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                 b"VALUE 3 2\r\n20 1 0\r\n30 2 30\r\nDELETED\r\n",
                 b"VALUE 3 5\r\n70 2 cd\r\n60 0x01 1 8\r\n50 2 50\r\n40 2 40\r\n10 2 15\r\nEND\r\n",
                 b"VALUE 3 1\r\n60 0x01 1 8\r\nDELETED\r\n",
                 b"VALUE 3 4\r\n10 2 15\r\n40 2 40\r\n50 2 50\r\n70 2 cd\r\nDELETED_DROPPED\r\n",
                 b"NOT_FOUND\r\n"])
    eq(outs[14][:15], b"VALUE 1 3 4 1\r\n", "pwg asc")
    eq(outs[15][:15], b"VALUE 3 3 1 0\r\n", "pwg desc")


def test_bop_mget_smget(srv):
    ins = lambda k, b, v: b"bop insert %s %d %d create 1 0 0\r\n%s\r\n" % (k, b, len(v), v)
    expect_ours(srv, [ins(b"a", 1, b"a1"), ins(b"a", 3, b"a3"), ins(b"b", 2, b"b2"),
                      ins(b"b", 3, b"b3"), b"set kv 0 0 1\r\nx\r\n",
                      b"bop create u 0 0 0 unreadable\r\n", ins(b"h", 0x10, b"h"),
                      b"bop mget 5 3 0..10 1\r\na b x\r\n",
                      b"bop mget 3 2 10..0 0 2\r\na,b\r\n",
                      b"bop mget 3 2 0..10 0 EQ 0x01 5\r\na b\r\n",
                      b"bop mget 4 2 0..10 5\r\na kv\r\n",
                      b"bop mget 3 2 0..10 51\r\na b\r\n", b"bop mget 3 3 0..10 5\r\na b\r\n",
                      b"bop smget 7 4 0..10 10 duplicate\r\na b x u\r\n",
                      b"bop smget 3 2 0..10 10 unique\r\na b\r\n",
                      b"bop smget 3 2 10..0 2 duplicate\r\na b\r\n",
                      b"bop smget 4 2 0..10 5 duplicate\r\na kv\r\n",
                      b"bop smget 3 2 0x00..0xFF 5 duplicate\r\na b\r\n",
                      b"bop smget 3 2 0..10 5 duplicate\r\na a\r\n",
                      b"bop smget 3 2 0..10 2001 duplicate\r\na b\r\n",
                      b"bop smget 3 2 0..10 5\r\na b\r\n"],
                [b"CREATED_STORED\r\n", b"STORED\r\n", b"CREATED_STORED\r\n", b"STORED\r\n",
                 b"STORED\r\n", b"CREATED\r\n", b"CREATED_STORED\r\n",
                 b"VALUE a OK 1 1\r\nELEMENT 1 2 a1\r\nVALUE b OK 1 1\r\nELEMENT 2 2 b2\r\n"
                 b"VALUE x NOT_FOUND\r\nEND\r\n",
                 b"VALUE a OK 1 2\r\nELEMENT 3 2 a3\r\nELEMENT 1 2 a1\r\n"
                 b"VALUE b OK 1 2\r\nELEMENT 3 2 b3\r\nELEMENT 2 2 b2\r\nEND\r\n",
                 b"VALUE a NOT_FOUND_ELEMENT\r\nVALUE b NOT_FOUND_ELEMENT\r\nEND\r\n",
                 b"VALUE a OK 1 2\r\nELEMENT 1 2 a1\r\nELEMENT 3 2 a3\r\n"
                 b"VALUE kv TYPE_MISMATCH\r\nEND\r\n",
                 b"CLIENT_ERROR bad value\r\n", b"CLIENT_ERROR bad data chunk\r\n",
                 b"ELEMENTS 4\r\na 1 1 2 a1\r\nb 1 2 2 b2\r\na 1 3 2 a3\r\nb 1 3 2 b3\r\n"
                 b"MISSED_KEYS 2\r\nx NOT_FOUND\r\nu UNREADABLE\r\nTRIMMED_KEYS 0\r\nDUPLICATED\r\n",
                 b"ELEMENTS 3\r\na 1 1 2 a1\r\nb 1 2 2 b2\r\na 1 3 2 a3\r\n"
                 b"MISSED_KEYS 0\r\nTRIMMED_KEYS 0\r\nEND\r\n",
                 b"ELEMENTS 2\r\na 1 3 2 a3\r\nb 1 3 2 b3\r\n"
                 b"MISSED_KEYS 0\r\nTRIMMED_KEYS 0\r\nDUPLICATED\r\n",
                 b"TYPE_MISMATCH\r\n", b"BKEY_MISMATCH\r\n", b"CLIENT_ERROR bad data chunk\r\n",
                 b"CLIENT_ERROR bad value\r\n", b"CLIENT_ERROR bad command line format\r\n"])


def test_bop_smget_trimmed_and_unreadable(srv):
    ins = lambda k, b: b"bop insert %s %d 1\r\nv\r\n" % (k, b)
    expect_ours(srv, [b"bop create t 0 0 2\r\n", ins(b"t", 5), ins(b"t", 6), ins(b"t", 7),
                      b"bop create o 0 0 0\r\n", ins(b"o", 1), ins(b"o", 9),
                      b"bop smget 3 2 9..0 10 duplicate\r\nt o\r\n",
                      b"bop smget 3 2 0..9 10 duplicate\r\nt o\r\n",
                      b"bop create u 0 0 0 unreadable\r\n", ins(b"u", 1),
                      b"bop get u 0..9\r\n", b"bop count u 0..9\r\n",
                      b"bop position u 1 asc\r\n", b"bop gbp u asc 0\r\n",
                      b"bop pwg u 1 asc\r\n", b"setattr u readable=on\r\n",
                      b"bop count u 0..9\r\n"],
                [b"CREATED\r\n"] + [b"STORED\r\n"] * 3 + [b"CREATED\r\n", b"STORED\r\n",
                 b"STORED\r\n",
                 b"ELEMENTS 4\r\no 0 9 1 v\r\nt 0 7 1 v\r\nt 0 6 1 v\r\no 0 1 1 v\r\n"
                 b"MISSED_KEYS 0\r\nTRIMMED_KEYS 1\r\nt 6\r\nEND\r\n",
                 b"ELEMENTS 2\r\no 0 1 1 v\r\no 0 9 1 v\r\nMISSED_KEYS 1\r\nt OUT_OF_RANGE\r\n"
                 b"TRIMMED_KEYS 0\r\nEND\r\n",
                 b"CREATED\r\n", b"STORED\r\n"] + [b"UNREADABLE\r\n"] * 5 +
                [b"OK\r\n", b"COUNT=1\r\n"])


def test_bop_pipe_and_stats(srv):
    outs = expect_ours(srv, [b"bop insert pp 1 1 create 0 0 0 pipe\r\na\r\n"
                             b"bop insert pp 1 1 pipe\r\na\r\n"
                             b"bop incr pp 1 1 pipe\r\n"
                             b"bop upsert pp 2 1 pipe\r\nb\r\n"
                             b"bop update pp 2 1 pipe\r\nc\r\n"
                             b"bop delete pp 1\r\n",
                             b"bop upsert pp 2 1 pipe\r\nb\r\nbop update pp 2 1 pipe\r\nc\r\n"
                             b"bop insert pp 5 1 pipe\r\n7\r\nbop incr pp 5 2 pipe\r\n"
                             b"bop decr pp 5 1 pipe\r\nbop delete pp 1\r\n",
                             b"bop create ps 0 0 0 noreply\r\nbop count ps 0..1\r\n"],
                       [b"RESPONSE 3\r\nCREATED_STORED\r\nELEMENT_EXISTS\r\n"
                        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                        b"PIPE_ERROR bad error\r\n",
                        b"RESPONSE 6\r\nSTORED\r\nUPDATED\r\nSTORED\r\n9\r\n8\r\nDELETED\r\n"
                        b"END\r\n",
                        b"COUNT=0\r\n"])
    with srv[0].connect() as c:
        transact(c, b"bop gbp ps asc 0\r\nbop position ps 1 asc\r\nbop pwg ps 1 asc\r\n"
                    b"bop mget 2 1 0..1 1\r\nps\r\nbop smget 2 1 0..1 1 unique\r\nps\r\n"
                    b"bop get ps 0\r\n")
        st = stats(c, b"collections")[0]
        # the skipped rest of the failed pipe is counted too (as lop's)
        eq([st["cmd_bop_" + n] for n in ("create", "insert", "upsert", "update", "delete",
                                        "get", "count", "incr", "decr", "mget", "smget",
                                        "position", "gbp", "pwg")],
           ["1", "3", "2", "2", "2", "1", "1", "2", "1", "1", "1", "1", "1", "1"])


def test_large_get_refused_and_type_counts(srv):
    """A get whose reply would pass 16 MB is refused whole (ours: the
    reply is built under the collection's lock): nothing is deleted, a
    smaller range still works.  stats collections counts each type."""
    big = b"v" * 16000
    with srv[0].connect() as c:
        eq(transact(c, b"lop create big 0 0 2000\r\n"), b"CREATED\r\n")
        for i in range(0, 1100, 100):
            transact(c, b"".join(b"lop insert big -1 16000 noreply\r\n" + big + b"\r\n"
                                 for _ in range(100)))
        eq(transact(c, b"getattr big count\r\n"), b"ATTR count=1100\r\nEND\r\n")
        eq(transact(c, b"lop get big 0..-1 delete\r\n"),
           b"SERVER_ERROR out of memory [writing get response]\r\n")
        eq(transact(c, b"getattr big count\r\n"), b"ATTR count=1100\r\nEND\r\n")
        r = transact(c, b"lop get big 0..9\r\n")
        check(r.startswith(b"VALUE 0 10\r\n16000 v") and r.endswith(b"\r\nEND\r\n"), r[:40])
        transact(c, b"sop create s 0 0 0\r\nmop create m 0 0 0\r\nbop create b 0 0 0\r\n"
                    b"bop create b2 0 0 0\r\n")
        st = stats(c, b"collections")[0]
        eq([st[k] for k in ("curr_lists", "curr_sets", "curr_maps", "curr_btrees")],
           ["1", "1", "1", "2"])
        transact(c, b"delete b2\r\ndelete s\r\n")
        st = stats(c, b"collections")[0]
        eq([st[k] for k in ("curr_lists", "curr_sets", "curr_maps", "curr_btrees")],
           ["1", "0", "1", "1"])
