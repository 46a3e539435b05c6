// Client-side consistent hashing with the npm "memcached" client (its
// hash ring is ketama-style, md5).  npm install memcached
const Memcached = require('memcached');

const mc = new Memcached(['10.0.0.11:11211', '10.0.0.12:11211', '10.0.0.13:11211'], {
  retries: 2,        // per request
  retry: 2000,       // ms before a failed node is tried again
  remove: true,      // take a dead node out of the ring ...
  failures: 3,       // ... after this many failures
  timeout: 400,
  poolSize: 10,      // connections per node; more requests at once are refused
});

mc.set('user:42', '{"name": "Zoë"}', 0, err => {
  if (err) throw err;
  mc.get('user:42', (err2, v) => { console.log(v); mc.end(); });
});
