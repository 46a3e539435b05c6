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
