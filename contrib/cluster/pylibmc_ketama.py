#!/usr/bin/python3
"""Client-side consistent hashing with pylibmc (libmemcached's ketama):
no proxy, every application process hashes keys to nodes itself.  All
applications sharing the cache must use the same node list (in the same
order is not needed: ketama hashes the addresses) and the same hashing."""
import pylibmc

NODES = ["10.0.0.11:11211", "10.0.0.12:11211", "10.0.0.13:11211"]

mc = pylibmc.Client(NODES, binary=False, behaviors={
    "ketama": True,            # libmemcached's ketama (md5), as other ketama clients
    "remove_failed": 1,        # drop a node after 1 failure ...
    "retry_timeout": 2,        # ... and try it again after 2 s
    "dead_timeout": 10,
    "connect_timeout": 200,    # ms
    "send_timeout": 400000,    # us
    "receive_timeout": 400000,
})

mc.set("user:42", b'{"name": "Zo\xc3\xab"}')
print(mc.get("user:42"))
