"""Error handling: bad command lines, bad data chunks, too-large values,
unknown commands, garbage, overlong lines.  Compared byte for byte with the
reference; the reference's bytes are pinned as well."""

from harness import compare, expect, eq, check, transact, server, pair, TestFailure, run_both, stats

# The reference's largest accepted value for key "big" (flags 0) under the
# default -I 1m: value + key + 59 bytes of item overhead <= 1048576.
MAX_VAL_BIG_KEY = 1048514


def test_unknown_commands_and_empty_lines(srv):
    expect(srv, [b"foo\r\n", b"\r\n", b"\r\n\r\n", b"\n", b" \r\n", b"GET a\r\n",
                 b"Set a 0 0 1\r\n", b"gets\r\n", b"get\r\n", b"incr\r\n", b"incr a\r\n",
                 b"decr a\r\n", b"touch a\r\n", b"cas a 0 0 1\r\n", b"verbosity\r\n"],
           [b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\nERROR\r\n", b"ERROR\r\n",
            b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n",
            b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n",
            b"ERROR\r\n"])


def test_bare_lf_line_endings(srv):
    # A lone \n terminates a command line too; the data block needs \r\n.
    expect(srv, [b"set a 0 0 1\nx\r\n", b"get a\n", b"get a b\n"],
           [b"STORED\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n"])


def test_binary_garbage(srv):
    expect(srv, [b"\x00\x01\x02garbage\r\n", b"\xff\xfe\xfd\r\n", b"\x00\r\n",
                 b"get a\r\n"],
           [b"ERROR\r\n", b"ERROR\r\n", b"ERROR\r\n", b"END\r\n"])


def test_binary_protocol_magic_disabled_with_B_ascii():
    # With -B ascii a binary-protocol request byte 0x80 is just garbage.
    with pair(["-B", "ascii"]) as srv:
        expect(srv, [b"\x80\x01\x00\x00\r\n", b"get a\r\n"], [b"ERROR\r\n", b"END\r\n"])


def test_bad_command_line_formats(srv):
    expect(srv, [b"set a 0 0\r\n", b"set a 0 0 1 2 3\r\nx\r\n", b"set a 0 0 -1\r\n",
                 b"set a 0 0 abc\r\n", b"set a x 0 1\r\nx\r\n", b"set a 0 x 1\r\nx\r\n",
                 b"get a\r\n"],
           [b"ERROR\r\n", b"ERROR\r\nERROR\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
            b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
            b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
            b"END\r\n"])


def test_bad_data_chunk_too_long(srv):
    # n+2 bytes are consumed; if they do not end in \r\n -> bad data chunk,
    # and parsing resumes right after those n+2 bytes (the rest of the
    # line then yields ERROR).
    expect(srv, [b"set a 0 0 1\r\nxy\r\nget a\r\n", b"set a 0 0 1\r\nxyzxyzxyz\r\n",
                 b"set a 0 0 1\r\nx\rset a 0 0 1\r\ny\r\n", b"get a\r\n"],
           [b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n",
            b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
            b"CLIENT_ERROR bad data chunk\r\nERROR\r\nERROR\r\n",
            b"END\r\n"])


def test_bad_data_chunk_too_short_eats_next_command(srv):
    # "x\r\n" + the sentinel "version\r\n": the 5 data bytes are "x\r\nve",
    # "rsion\r\n" is then an unknown command.  A second sentinel resyncs.
    def fn(s):
        with s.connect() as c:
            c.send(b"set a 0 0 3\r\nx\r\nversion\r\nversion\r\n")
            return c.read_until(lambda b: b.count(b"\r\n") >= 3)
    from harness import compare_fn
    r = compare_fn(fn, srv=srv)
    eq(r.split(b"\r\n")[:2], [b"CLIENT_ERROR bad data chunk", b"ERROR"], "reference")
    check(r.split(b"\r\n")[2].startswith(b"VERSION "), "resync after short chunk")


def test_value_too_large_is_swallowed(srv):
    n = 1024 * 1024
    expect(srv, [b"set big 0 0 %d\r\n%s\r\n" % (n, b"x" * n), b"get big\r\n",
                 b"set big 0 0 %d\r\n%s\r\n" % (2 * n, b"y" * 2 * n),
                 b"set big 0 0 %d noreply\r\n%s\r\n" % (2 * n, b"y" * 2 * n),
                 b"get big\r\n"],
           [b"SERVER_ERROR object too large for cache\r\n", b"END\r\n",
            b"SERVER_ERROR object too large for cache\r\n",
            b"", b"END\r\n"])  # noreply silences SERVER_ERROR too


def test_too_large_set_deletes_existing_item(srv):
    # A set rejected as too large unlinks the key's old value.
    n = 2 * 1024 * 1024
    expect(srv, [b"set k 0 0 1\r\nx\r\n", b"set k 0 0 %d\r\n%s\r\n" % (n, b"y" * n),
                 b"get k\r\n",
                 b"set j 0 0 1\r\nx\r\n", b"set j 0 0 %d noreply\r\n%s\r\n" % (n, b"y" * n),
                 b"get j\r\n"],
           [b"STORED\r\n", b"SERVER_ERROR object too large for cache\r\n", b"END\r\n",
            b"STORED\r\n", b"", b"END\r\n"])


def test_value_max_size_boundary(srv):
    m = MAX_VAL_BIG_KEY
    expect(srv, [b"set big 0 0 %d\r\n%s\r\n" % (m, b"a" * m),
                 b"get big\r\n",
                 b"set big 0 0 %d\r\n%s\r\n" % (m + 1, b"b" * (m + 1)),
                 # flags != 0 cost 4 more bytes of item header
                 b"set big 1 0 %d\r\n%s\r\n" % (m - 4, b"c" * (m - 4)),
                 b"set big 1 0 %d\r\n%s\r\n" % (m - 3, b"c" * (m - 3))],
           [b"STORED\r\n", b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (m, b"a" * m),
            b"SERVER_ERROR object too large for cache\r\n",
            b"STORED\r\n", b"SERVER_ERROR object too large for cache\r\n"])


def test_value_max_size_with_I_2m():
    with pair(["-I", "2m"]) as srv:
        m = 2 * 1024 * 1024 - 3 - 59
        expect(srv, [b"set big 0 0 %d\r\n%s\r\n" % (m, b"a" * m),
                     b"get big\r\n",
                     b"set big 0 0 %d\r\n%s\r\n" % (m + 1, b"a" * (m + 1))],
               [b"STORED\r\n", b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (m, b"a" * m),
                b"SERVER_ERROR object too large for cache\r\n"])


def test_overlong_lines(srv):
    long_key = b"a" * 3000
    many_keys = b" ".join(b"k%04d" % i for i in range(600))   # 3600-byte line
    expect(srv, [b"set %s 0 0 1\r\nx\r\n" % long_key,
                 b"foo %s\r\n" % long_key,
                 b"a" * 2050 + b"\r\n",
                 b"set k0007 0 0 1\r\n7\r\nset k0599 0 0 1\r\n9\r\n",
                 b"get %s\r\n" % many_keys,
                 b"get a\r\n"],
           [b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
            b"ERROR\r\n", b"ERROR\r\n", b"STORED\r\nSTORED\r\n",
            b"VALUE k0007 0 1\r\n7\r\nVALUE k0599 0 1\r\n9\r\nEND\r\n",
            b"END\r\n"])


def _partial_line(first, rest=b""):
    """Send a line without newline in pieces, then its newline."""
    import time

    def fn(s):
        with s.connect() as c:
            try:
                c.send(first)
                time.sleep(0.05)
                if rest:
                    c.send(rest)
                    time.sleep(0.05)
            except OSError:
                pass
            return transact(c, b"\r\n", timeout=2)
    return fn


def test_partial_line_limit_2048(srv):
    # More than 2048 bytes buffered without a newline: the reference closes
    # the connection -- unless the line starts with "get " / "gets ".
    from harness import compare_fn
    cases = [(b"z" * 1024, b"z" * 1024, b"ERROR\r\n"),
             (b"z" * 2048, b"", b"ERROR\r\n"),
             (b"z" * 1024, b"z" * 1025, b"<EOF>"),
             (b"z" * 2049, b"", b"<EOF>"),
             (b"set a 0 0 1 " + b"z" * 3000, b"", b"<EOF>"),
             (b"gat 0 " + b"k" * 3000, b"", b"<EOF>"),
             (b"get " + b"k" * 3000, b"", b"CLIENT_ERROR bad command line format\r\n"),
             (b"gets " + b"k" * 3000, b"", b"CLIENT_ERROR bad command line format\r\n"),
             (b"get " + b" ".join(b"k%04d" % i for i in range(900)), b"", b"END\r\n")]
    for first, rest, want in cases:
        r = compare_fn(_partial_line(first, rest), srv=srv)
        eq(r, want, "reference reply for %d+%d bytes %r" % (len(first), len(rest), first[:10]))


def test_many_errors_keep_connection(srv):
    batch = b"".join([b"bogus %d\r\n" % i for i in range(50)] +
                     [b"incr nokey 1\r\n", b"set a 0 0 1\r\nxx\r\n", b"get a\r\n"])
    r = compare([batch], srv=srv)[0]
    check(r.count(b"ERROR\r\n") >= 50, "reference answered every bogus line")


def test_out_of_memory_with_M_keeps_data_and_sync():
    # -M: no eviction.  Once memory is full a set gets exactly
    # "SERVER_ERROR out of memory storing object", its data is swallowed,
    # the connection stays in sync, nothing stored earlier is lost, and
    # the failure is counted.  Same on both servers (ours fits more).
    def fn(s):
        val = b"v" * 100000
        with s.connect() as c:
            stored = 0
            err = None
            for i in range(400):
                r = transact(c, b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(val), val))
                if r != b"STORED\r\n":
                    err = r
                    break
                stored += 1
            after = transact(c, b"set small 0 0 1\r\nx\r\nget small\r\n")
            intact = all(transact(c, b"get k%d\r\n" % i) ==
                         b"VALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, len(val), val)
                         for i in range(stored))
            st = stats(c)[0]
            return stored, err, intact, int(st["store_no_memory"]), int(st["evictions"]), after
    o, r = run_both(fn, args=["-M", "-m", "8"])
    for side, res in (("ours", o), ("reference", r)):
        stored, err, intact, nomem, evictions, after = res
        check(stored > 10, "%s stored %d values first" % (side, stored))
        eq(err, b"SERVER_ERROR out of memory storing object\r\n", "%s error" % side)
        check(intact, "%s: every value stored before is intact" % side)
        check(nomem >= 1, "%s store_no_memory counted: %d" % (side, nomem))
        eq(evictions, 0, "%s evictions with -M" % side)
    check(o[0] >= r[0], "ours holds at least as many: %d vs %d" % (o[0], r[0]))
