"""incr / decr, compared with the reference byte for byte."""

from harness import expect


def test_incr_decr_basic(srv):
    expect(srv, [b"incr nokey 1\r\n", b"decr nokey 1\r\n",
                 b"set n 5 0 2\r\n10\r\n", b"incr n 5\r\n", b"decr n 3\r\n",
                 b"get n\r\n", b"incr n 0\r\n", b"decr n 100\r\n",
                 b"incr n 5 noreply\r\n", b"decr n 1 noreply\r\n", b"get n\r\n"],
           [b"NOT_FOUND\r\n", b"NOT_FOUND\r\n", b"STORED\r\n", b"15\r\n", b"12\r\n",
            b"VALUE n 5 2\r\n12\r\nEND\r\n", b"12\r\n", b"0\r\n", b"", b"",
            b"VALUE n 5 2\r\n4 \r\nEND\r\n"])


def test_incr_wraps_at_2_64(srv):
    expect(srv, [b"set n 0 0 20\r\n18446744073709551615\r\n", b"incr n 1\r\n",
                 b"set n 0 0 20\r\n18446744073709551615\r\n", b"incr n 2\r\n",
                 b"set n 0 0 2\r\n10\r\n", b"incr n 18446744073709551615\r\n",
                 b"incr n 18446744073709551616\r\n", b"get n\r\n"],
           [b"STORED\r\n", b"0\r\n", b"STORED\r\n", b"1\r\n", b"STORED\r\n",
            b"9\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n",
            b"VALUE n 0 2\r\n9 \r\nEND\r\n"])


def test_decr_floor_zero(srv):
    expect(srv, [b"set n 0 0 1\r\n3\r\n", b"decr n 4\r\n", b"decr n 1\r\n",
                 b"decr n 18446744073709551615\r\n", b"get n\r\n"],
           [b"STORED\r\n", b"0\r\n", b"0\r\n", b"0\r\n", b"VALUE n 0 1\r\n0\r\nEND\r\n"])


def test_incr_changes_value_length(srv):
    # Growing: the value becomes longer.  Shrinking (decr 100 -> 99) keeps
    # the old length and pads with trailing spaces (in-place rewrite).
    expect(srv, [b"set n 3 0 2\r\n99\r\n", b"incr n 1\r\n", b"get n\r\n",
                 b"decr n 1\r\n", b"get n\r\n", b"decr n 90\r\n", b"gets n\r\n",
                 b"incr n 991\r\n", b"get n\r\n",
                 b"set m 0 0 3\r\n012\r\n", b"incr m 1\r\n", b"get m\r\n"],
           [b"STORED\r\n", b"100\r\n", b"VALUE n 3 3\r\n100\r\nEND\r\n",
            b"99\r\n", b"VALUE n 3 3\r\n99 \r\nEND\r\n", b"9\r\n",
            b"VALUE n 3 3 <CAS>\r\n9  \r\nEND\r\n", b"1000\r\n",
            b"VALUE n 3 4\r\n1000\r\nEND\r\n",
            b"STORED\r\n", b"13\r\n", b"VALUE m 0 3\r\n13 \r\nEND\r\n"])


def test_incr_non_numeric_values(srv):
    nn = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    expect(srv, [b"set n 0 0 3\r\nabc\r\n", b"incr n 1\r\n", b"decr n 1\r\n",
                 b"set n 0 0 2\r\n-1\r\n", b"incr n 1\r\n",
                 b"set n 0 0 3\r\n1a2\r\n", b"incr n 1\r\n",
                 b"set n 0 0 0\r\n\r\n", b"incr n 1\r\n",
                 b"set n 0 0 20\r\n18446744073709551616\r\n", b"incr n 1\r\n",
                 b"set n 0 0 3\r\n 12\r\n", b"incr n 1\r\n",
                 b"set n 0 0 3\r\n12 \r\n", b"incr n 1\r\n"],
           [b"STORED\r\n", nn, nn, b"STORED\r\n", nn, b"STORED\r\n", nn,
            b"STORED\r\n", nn, b"STORED\r\n", nn,
            b"STORED\r\n", b"13\r\n", b"STORED\r\n", b"13\r\n"])


def test_invalid_delta(srv):
    bad = b"CLIENT_ERROR invalid numeric delta argument\r\n"
    expect(srv, [b"set n 0 0 1\r\n5\r\n", b"incr n -1\r\n", b"incr n abc\r\n",
                 b"decr n 0x1\r\n", b"incr n 1.5\r\n", b"incr n +3\r\n",
                 b"incr n  1\r\n", b"incr n 1 2\r\n", b"incr n\r\n", b"decr\r\n",
                 b"get n\r\n"],
           [b"STORED\r\n", bad, bad, bad, bad, b"8\r\n", b"9\r\n", b"10\r\n",
            b"ERROR\r\n", b"ERROR\r\n", b"VALUE n 0 2\r\n10\r\nEND\r\n"])
