// memjs_scenario.js PORT MODE [USER PASSWORD] -- drive memjs (from the npm
// registry, installed by scripts/deps.sh test into build/npm) through one
// scenario against 127.0.0.1:PORT and print one JSON line per step:
// [step, outcome].  Run by tests/integration/test_clients_binary.py against
// our server and against memcached; the outcomes are compared there.
//
// MODE: "full" (the whole scenario) or "probe" (one get and one set: what a
// client sees when authentication fails or is missing).
// An outcome is the value the client returns (Buffers as strings, big ones
// as length and SHA-256) or "error: <message>" (ports replaced by PORT).
// memjs 1.3 has no multi-get and no CAS; its prepend sends an Append
// (opcode 0x0e), so "prepend" appends on both servers.
'use strict';
const crypto = require('crypto');
const memjs = require('memjs');

const [port, mode, user, password] = process.argv.slice(2);
const timeout = Number(process.env.MC_CLIENT_TIMEOUT || '5');
const opts = { timeout, conntimeout: timeout, retries: 1, logger: { log() {} } };
if (user !== undefined) { opts.username = user; opts.password = password; }
const client = () => memjs.Client.create('127.0.0.1:' + port, opts);
const mc = client();

// counters the scenario moves, compared with memcached's
const COUNTERS = ['cmd_get', 'get_hits', 'get_misses', 'cmd_set', 'cmd_touch', 'touch_hits',
  'touch_misses', 'incr_hits', 'incr_misses', 'decr_hits', 'decr_misses', 'delete_hits',
  'delete_misses', 'cas_hits', 'cas_misses', 'cas_badval', 'curr_items', 'total_items'];

function show(v) {
  if (Buffer.isBuffer(v)) {
    if (v.length > 64) {
      return v.length + ' bytes sha256 ' + crypto.createHash('sha256').update(v).digest('hex');
    }
    return v.toString('latin1');
  }
  if (Array.isArray(v)) { return v.map(show); }
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) { o[k.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT')] = show(v[k]); }
    return o;
  }
  return v === undefined ? null : v;
}

// A step whose callback never comes (a client bug) is recorded as such
// instead of hanging the run.
function guard(p) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve('no answer'), 3000 * timeout);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}

async function step(name, fn) {
  let out;
  try {
    out = show(await guard(Promise.resolve().then(fn)));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    out = 'error: ' + msg.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT');
  }
  process.stdout.write(JSON.stringify([name, out]) + '\n');
}

// Each probe step on a client of its own: after a refused request memjs
// 1.3.2 may lose its next connection (the old socket's close handler
// clears the new one) and never answer.
async function probe() {
  const a = client();
  await step('get', async () => (await a.get('k')).value);
  a.close();
  const b = client();
  await step('set', () => b.set('k', 'v', {}));
  b.close();
}

async function full() {
  await step('set k1', () => mc.set('k1', 'v1', {}));
  await step('get k1', async () => (await mc.get('k1')).value);
  await step('get missing', async () => (await mc.get('missing')).value);
  await step('add k1 (exists)', () => mc.add('k1', 'x', {}));
  await step('add k2', () => mc.add('k2', 'v2', {}));
  await step('replace missing', () => mc.replace('missing', 'x', {}));
  await step('replace k2', () => mc.replace('k2', 'w2', {}));
  // no multi-get in memjs: three gets in flight on one connection
  await step('parallel gets', async () => {
    const r = await Promise.all(['k1', 'k2', 'missing'].map((k) => mc.get(k)));
    return r.map((x) => x.value);
  });
  await step('set n', () => mc.set('n', '10', {}));
  await step('increment n 5', () => mc.increment('n', 5, {}));
  await step('decrement n 20', () => mc.decrement('n', 20, {}));
  await step('increment missing (initial 42)', () => mc.increment('ctr', 1, { initial: 42 }));
  await step('increment ctr', () => mc.increment('ctr', 8, {}));
  await step('increment non-numeric', () => mc.increment('k1', 1, {}));
  await step('append k1', () => mc.append('k1', '+'));
  await step('prepend k1 (sent as append)', () => mc.prepend('k1', '-'));
  await step('get k1 after concat', async () => (await mc.get('k1')).value);
  await step('append missing', () => mc.append('missing', '+'));
  await step('touch k1', () => mc.touch('k1', 300));
  await step('touch missing', () => mc.touch('missing', 300));
  await step('delete k1', () => mc.delete('k1'));
  await step('delete k1 again', () => mc.delete('k1'));
  await step('get k1 deleted', async () => (await mc.get('k1')).value);
  const big = Buffer.alloc(500 * 1024);
  for (let i = 0; i < big.length; i++) { big[i] = (i * 7919 + (i >> 9)) & 0xff; }
  await step('set 500 KB', () => mc.set('big', big, {}));
  await step('get 500 KB', async () => (await mc.get('big')).value);
  await step('get 500 KB equal', async () => big.equals((await mc.get('big')).value));
  await step('set 2 MB (server refuses)', () => mc.set('huge', Buffer.alloc(2 << 20, 120), {}));
  await step('stats', async () => {
    const st = await new Promise((res, rej) => mc.stats((e, srv, s) => (e ? rej(e) : res(s))));
    const o = { version: st.version.split('-')[0] };
    for (const k of COUNTERS) { o[k] = st[k]; }
    return o;
  });
  await step('flush', () => mc.flush());
  await step('get k2 after flush', async () => (await mc.get('k2')).value);
}

// memjs may keep the event loop alive after a failed authentication (a
// connect timer of a socket it destroyed): exit once the steps are done
// (stdout to a pipe is written synchronously on Linux).
let finished = false;
process.on('exit', () => {
  // the event loop ran dry while a step still waited for its callback
  if (!finished) { process.stdout.write(JSON.stringify(['steps left', 'no callback']) + '\n'); }
});
(mode === 'probe' ? probe() : full()).then(() => 0, (e) => {
  process.stdout.write(JSON.stringify(['script error', String(e)]) + '\n');
  return 1;
}).then((rc) => {
  finished = true;
  mc.close();
  process.exit(rc);
});
