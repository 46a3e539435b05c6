# dalli_scenario.rb PORT MODE [USER PASSWORD] -- drive Debian's ruby-dalli
# (3.0.6, binary protocol only) through one scenario against 127.0.0.1:PORT
# and print one JSON line per step: [step, outcome].  Run by
# tests/integration/test_clients_binary.py against our server and against
# memcached; the outcomes are compared there.
#
# MODE: "full" (the whole scenario) or "probe" (one get and one set: what a
# client sees when authentication fails or is missing).
# An outcome is the returned value (big values as length and SHA-256) or
# "raise <class>: <message>" (the port in messages replaced by PORT).
require 'dalli'
require 'digest'
require 'json'
require 'logger'

$port, mode, user, password = ARGV
Dalli.logger = Logger.new(nil)
# A server that closed the connection stays down for the rest of the run
# (down_retry_delay): no outcome depends on how fast the steps run.
$opts = { socket_timeout: Float(ENV.fetch('MC_CLIENT_TIMEOUT', '5')),
          socket_max_failures: 1, down_retry_delay: 60 }
$opts[:username] = user if user
$opts[:password] = password if password
$dc = Dalli::Client.new("127.0.0.1:#{$port}", $opts)

# counters the scenario moves, compared with memcached's
COUNTERS = %w[cmd_get get_hits get_misses cmd_set cmd_touch touch_hits touch_misses
              incr_hits incr_misses decr_hits decr_misses delete_hits delete_misses
              cas_hits cas_misses cas_badval curr_items total_items].freeze

def show(v)
  return v unless v.is_a?(String)
  return (v.ascii_only? ? v : v.b.inspect) if v.bytesize <= 64
  "#{v.bytesize} bytes sha256 #{Digest::SHA256.hexdigest(v)}"
end

def step(name)
  out = begin
          show(yield)
        rescue StandardError => e
          "raise #{e.class}: #{e.message.gsub(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT')}"
        end
  puts JSON.generate([name, out])
  $stdout.flush
end

if mode == 'probe'
  step('get') { $dc.get('k') }
  step('set') { $dc.set('k', 'v', 0, raw: true) }
  exit 0
end

raw = { raw: true }
step('set k1') { $dc.set('k1', 'v1', 0, raw) ? 'stored' : 'not stored' }
step('get k1') { $dc.get('k1') }
step('get missing') { $dc.get('missing') }
step('add k1 (exists)') { $dc.add('k1', 'x', 0, raw) }
step('add k2') { $dc.add('k2', 'v2', 0, raw) ? 'stored' : 'not stored' }
step('replace missing') { $dc.replace('missing', 'x', 0, raw) }
step('replace k2') { $dc.replace('k2', 'w2', 0, raw) ? 'stored' : 'not stored' }
step('get_multi') { $dc.get_multi('k1', 'k2', 'missing').sort.to_h }
many = (0...200).to_h { |i| [format('many-%03d', i), "value-#{i * i}"] }
step('multi: 200 quiet sets') do
  $dc.multi { many.each { |k, v| $dc.set(k, v, 0, raw) } }
  'done'
end
step('get_multi 200 + 10 missing') do
  got = $dc.get_multi(*many.keys, *(0...10).map { |i| "many-missing-#{i}" })
  [got.size, got == many]
end
step('set n') { $dc.set('n', '10', 0, raw) ? 'stored' : 'not stored' }
step('incr n 5') { $dc.incr('n', 5) }
step('decr n 20') { $dc.decr('n', 20) }
step('incr missing') { $dc.incr('ctr', 1) }
step('incr missing with default') { $dc.incr('ctr', 1, 0, 42) }
step('incr ctr') { $dc.incr('ctr', 8) }
step('incr non-numeric') { $dc.incr('k1', 1) }
step('get_cas k1') do
  v, cas = $dc.get_cas('k1')
  [v, cas.is_a?(Integer) && cas.positive?]
end
step('set_cas current') do
  _, cas = $dc.get_cas('k1')
  $dc.set_cas('k1', 'v1-cas', cas, 0, raw) ? 'stored' : 'not stored'
end
step('set_cas stale') { $dc.set_cas('k1', 'stale', 1, 0, raw) }
step('cas block') { $dc.cas('k2', 0, raw) { |v| "#{v}!" }.is_a?(Integer) ? 'stored' : 'not stored' }
step('cas block missing') { $dc.cas('missing', 0, raw) { |v| "#{v}!" } }
step('append k1') { $dc.append('k1', '+') }
step('prepend k1') { $dc.prepend('k1', '-') }
step('get k1 after concat') { $dc.get('k1') }
step('append missing') { $dc.append('missing', '+') }
step('touch k1') { $dc.touch('k1', 300) }
step('touch missing') { $dc.touch('missing', 300) }
step('gat k2') { $dc.gat('k2', 300) }
step('gat missing') { $dc.gat('missing', 300) }
step('delete k1') { $dc.delete('k1') }
step('delete k1 again') { $dc.delete('k1') }
step('get k1 deleted') { $dc.get('k1') }
step('set object') { $dc.set('obj', { 'a' => [1, 2] }) ? 'stored' : 'not stored' }
step('get object') { $dc.get('obj') }
big = Random.new(500).bytes(500 * 1024)
step('set 500 KB') { $dc.set('big', big, 0, raw) ? 'stored' : 'not stored' }
step('get 500 KB') { $dc.get('big') }
step('get 500 KB equal') { $dc.get('big') == big }
step('set 2 MB (server refuses)') do
  Dalli::Client.new("127.0.0.1:#{$port}", $opts.merge(value_max_bytes: 4 << 20))
               .set('huge', 'x' * (2 << 20), 0, raw.merge(compress: false))
end
step('stats') do
  (st,) = $dc.stats.values
  out = COUNTERS.to_h { |k| [k, st[k]] }
  out['version'] = st['version'].split('-').first
  out.sort.to_h
end
step('flush') { $dc.flush.map { |r| r ? true : r } }
step('get k2 after flush') { $dc.get('k2') }
step('get_multi after flush') { $dc.get_multi('k2', 'n', 'big') }
$dc.close
