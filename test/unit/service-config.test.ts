/**
 * Config validation: one table row per field and failure, each checked for the reported path and
 * reason; several problems are reported at once; the shipped examples validate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseConfig, validateConfig } from '../../src/service/config.ts';
import { formatCidr, formatIp } from '../../src/service/ipaddr.ts';

/** A valid base document; each row patches one field. */
function base(): any {
  return {
    version: 1,
    networks: [
      {
        name: 'net1',
        parent: { netns: 'host1', dev: 'eth0' },
        mode: 'bridge',
        dataplane: 'kernel',
        subnet: '10.0.36.0/24',
        gateway: '10.0.36.254',
        'ip-range': '10.0.36.192/27',
        'aux-addresses': { host: '10.0.36.223' },
        'host-shim': { name: 'mac0', ip: '10.0.36.223' },
        endpoints: [
          { name: 'a1', netns: 'ep-a1', ip: '10.0.36.10' },
          { name: 'a2', netns: 'ep-a2', mac: '02:42:0a:00:24:0b' },
        ],
      },
    ],
  };
}

type Row = [title: string, patch: (d: any) => void, path: string, reason: RegExp];
const rows: Row[] = [
  ['document not a map', (d) => { d.networks = undefined; d.version = undefined; Object.assign(d, { x: 1 }); }, 'x', /unknown key/],
  ['unknown top key', (d) => (d.extra = true), 'extra', /unknown key \(allowed: version, networks\)/],
  ['version', (d) => (d.version = 2), 'version', /unsupported version 2/],
  ['networks missing', (d) => delete d.networks, 'networks', /is required/],
  ['networks not a list', (d) => (d.networks = {}), 'networks', /expected a list of networks/],
  ['network not a map', (d) => (d.networks[0] = 'x'), 'networks[0]', /expected a map/],
  ['unknown network key', (d) => (d.networks[0].driver = 'macvlan'), 'networks[0].driver', /unknown key/],
  ['name missing', (d) => delete d.networks[0].name, 'networks[0].name', /is required/],
  ['name bad', (d) => (d.networks[0].name = 'a b'), 'networks[0].name', /is not a name/],
  ['parent missing', (d) => delete d.networks[0].parent, 'networks[0].parent', /is required/],
  ['parent bad string', (d) => (d.networks[0].parent = 'host1:this-name-is-too-long'), 'networks[0].parent', /not a valid interface name/],
  ['parent bad netns', (d) => (d.networks[0].parent = 'a/b:eth0'), 'networks[0].parent', /not a valid namespace name/],
  ['parent map unknown key', (d) => (d.networks[0].parent = { dev: 'eth0', ns: 'x' }), 'networks[0].parent.ns', /unknown key/],
  ['parent map no dev', (d) => (d.networks[0].parent = { netns: 'h' }), 'networks[0].parent.dev', /is required/],
  ['parent dev bad', (d) => (d.networks[0].parent = { dev: 'a/b' }), 'networks[0].parent.dev', /not a valid interface name/],
  ['parent netns bad', (d) => (d.networks[0].parent = { dev: 'eth0', netns: 7 }), 'networks[0].parent.netns', /expected a namespace name/],
  ['mode', (d) => (d.networks[0].mode = 'hairpin'), 'networks[0].mode', /expected one of private, vepa, bridge, passthru, source/],
  ['dataplane', (d) => (d.networks[0].dataplane = 'dpdk'), 'networks[0].dataplane', /expected "kernel" or "userspace"/],
  ['nopromisc type', (d) => (d.networks[0].nopromisc = 'yes'), 'networks[0].nopromisc', /expected true or false/],
  ['nopromisc not passthru', (d) => (d.networks[0].nopromisc = true), 'networks[0].nopromisc', /only applies to mode passthru/],
  ['subnet not cidr', (d) => (d.networks[0].subnet = '10.0.36.0'), 'networks[0].subnet', /has no prefix length/],
  ['subnet host bits', (d) => (d.networks[0].subnet = '10.0.36.1/24'), 'networks[0].subnet', /host bits are set .*10\.0\.36\.0\/24/],
  ['subnet bad len', (d) => (d.networks[0].subnet = '10.0.36.0/33'), 'networks[0].subnet', /prefix length "33" is not in 0\.\.32/],
  ['subnet bad addr', (d) => (d.networks[0].subnet = '10.0.336.0/24'), 'networks[0].subnet', /is not an IPv4 or IPv6 address/],
  ['gateway outside', (d) => (d.networks[0].gateway = '10.0.37.1'), 'networks[0].gateway', /outside the subnet 10\.0\.36\.0\/24/],
  ['gateway broadcast', (d) => (d.networks[0].gateway = '10.0.36.255'), 'networks[0].gateway', /network or broadcast/],
  ['gateway family', (d) => (d.networks[0].gateway = 'fd00::1'), 'networks[0].gateway', /is IPv6, expected an IPv4 address/],
  ['gateway not ip', (d) => (d.networks[0].gateway = 'router'), 'networks[0].gateway', /not an IPv4 or IPv6 address/],
  ['gateway without subnet', (d) => { delete d.networks[0].subnet; delete d.networks[0]['ip-range']; delete d.networks[0]['aux-addresses']; delete d.networks[0]['host-shim']; d.networks[0].endpoints = []; }, 'networks[0].gateway', /needs networks\[0\]\.subnet/],
  ['ip-range outside', (d) => (d.networks[0]['ip-range'] = '10.0.0.0/16'), 'networks[0].ip-range', /not within the subnet/],
  ['ip-range not cidr', (d) => (d.networks[0]['ip-range'] = 12), 'networks[0].ip-range', /expected a prefix/],
  ['aux not a map', (d) => (d.networks[0]['aux-addresses'] = ['10.0.36.1']), 'networks[0].aux-addresses', /expected a map/],
  ['aux outside', (d) => (d.networks[0]['aux-addresses'] = { host: '10.1.0.1' }), 'networks[0].aux-addresses.host', /outside the subnet/],
  ['ipv6 unknown key', (d) => (d.networks[0].ipv6 = { subnet: 'fd00::/64', dns: 'x' }), 'networks[0].ipv6.dns', /unknown key/],
  ['ipv6 no subnet', (d) => (d.networks[0].ipv6 = { gateway: 'fd00::1' }), 'networks[0].ipv6.subnet', /is required/],
  ['ipv6 v4 subnet', (d) => (d.networks[0].ipv6 = { subnet: '10.1.0.0/16' }), 'networks[0].ipv6.subnet', /expected an IPv6 prefix/],
  ['ipv6 gateway outside', (d) => (d.networks[0].ipv6 = { subnet: 'fd00::/64', gateway: 'fd01::1' }), 'networks[0].ipv6.gateway', /outside the subnet fd00::\/64/],
  ['vlan on kernel', (d) => (d.networks[0].vlan = 10), 'networks[0].vlan', /need dataplane: userspace/],
  ['mtu on kernel', (d) => (d.networks[0].mtu = 9000), 'networks[0].mtu', /applies to dataplane: userspace/],
  ['mtu range', (d) => { d.networks[0].dataplane = 'userspace'; d.networks[0].mtu = 65522; }, 'networks[0].mtu', /68\.\.65521/],
  ['vlan range', (d) => { d.networks[0].dataplane = 'userspace'; d.networks[0].vlan = 4095; }, 'networks[0].vlan', /integer 1\.\.4094/],
  ['shim unknown key', (d) => (d.networks[0]['host-shim'].mode = 'bridge'), 'networks[0].host-shim.mode', /unknown key/],
  ['shim name', (d) => (d.networks[0]['host-shim'].name = 'x'.repeat(16)), 'networks[0].host-shim.name', /not a valid interface name/],
  ['shim ip outside', (d) => (d.networks[0]['host-shim'].ip = '192.168.1.1'), 'networks[0].host-shim.ip', /outside the subnet/],
  ['shim ip gateway', (d) => (d.networks[0]['host-shim'].ip = '10.0.36.254'), 'networks[0].host-shim.ip', /gateway/],
  ['shim ip missing', (d) => delete d.networks[0]['host-shim'].ip, 'networks[0].host-shim', /needs ip, ipv6 or both/],
  ['shim ipv6 not v6', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64' }; d.networks[0]['host-shim'].ipv6 = '10.0.36.224'; }, 'networks[0].host-shim.ipv6', /expected an IPv6 address/],
  ['shim ipv6 without subnet', (d) => (d.networks[0]['host-shim'].ipv6 = 'fd00::fe'), 'networks[0].host-shim.ipv6', /needs an IPv6 subnet/],
  ['shim ipv6 outside', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64' }; d.networks[0]['host-shim'].ipv6 = 'fd01::fe'; }, 'networks[0].host-shim.ipv6', /outside the subnet/],
  ['shim ipv6 gateway', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64', gateway: 'fd00::1' }; d.networks[0]['host-shim'].ipv6 = 'fd00::1'; }, 'networks[0].host-shim.ipv6', /gateway/],
  ['shim two IPv6', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64' }; delete d.networks[0].subnet; for (const k of ['gateway', 'ip-range', 'aux-addresses']) delete d.networks[0][k]; d.networks[0].endpoints = []; d.networks[0]['host-shim'] = { name: 'mac0', ip: 'fd00::fd', ipv6: 'fd00::fe' }; }, 'networks[0].host-shim.ipv6', /already has an IPv6 address/],
  ['endpoint ipv6 shim', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64' }; d.networks[0]['host-shim'].ipv6 = 'fd00::fe'; d.networks[0].endpoints[0].ipv6 = 'fd00::fe'; }, 'networks[0].endpoints[0].ipv6', /host shim's address/],
  ['shim passthru', (d) => { d.networks[0].mode = 'passthru'; d.networks[0].endpoints.pop(); }, 'networks[0].host-shim', /passthru/],
  ['passthru with a MAC', (d) => { d.networks[0].mode = 'passthru'; delete d.networks[0]['host-shim']; d.networks[0].endpoints.shift(); }, 'networks[0].endpoints[0].mac', /inherits the parent's MAC/],
  ['endpoints not list', (d) => (d.networks[0].endpoints = {}), 'networks[0].endpoints', /expected a list of endpoints/],
  ['passthru two endpoints', (d) => { d.networks[0].mode = 'passthru'; delete d.networks[0]['host-shim']; }, 'networks[0].endpoints', /takes one endpoint/],
  ['endpoint unknown key', (d) => (d.networks[0].endpoints[0].hostname = 'x'), 'networks[0].endpoints[0].hostname', /unknown key/],
  ['endpoint name missing', (d) => delete d.networks[0].endpoints[0].name, 'networks[0].endpoints[0].name', /is required/],
  ['endpoint name bad', (d) => (d.networks[0].endpoints[0].name = '-x'), 'networks[0].endpoints[0].name', /is not a name/],
  ['endpoint neither', (d) => delete d.networks[0].endpoints[0].netns, 'networks[0].endpoints[0]', /needs either netns .* or tap/],
  ['endpoint both', (d) => (d.networks[0].endpoints[0].tap = 'tap0'), 'networks[0].endpoints[0]', /both netns and tap/],
  ['endpoint netns bad', (d) => (d.networks[0].endpoints[0].netns = '../etc'), 'networks[0].endpoints[0].netns', /not a namespace name/],
  ['endpoint tap bad', (d) => { delete d.networks[0].endpoints[0].netns; d.networks[0].endpoints[0].tap = 'a b'; }, 'networks[0].endpoints[0].tap', /not a valid interface name/],
  ['endpoint vm mode userspace', (d) => { d.networks[0].dataplane = 'userspace'; delete d.networks[0].endpoints[0].netns; d.networks[0].endpoints[0].vm = { tap: 'tap0', mode: '0660' }; }, 'networks[0].endpoints[0].vm.mode', /only applies to dataplane: kernel/],
  ['endpoint vm mtu kernel', (d) => { delete d.networks[0].endpoints[0].netns; d.networks[0].endpoints[0].vm = { tap: 'tap0', mtu: 9000 }; }, 'networks[0].endpoints[0].vm.mtu', /only applies to dataplane: userspace/],
  ['endpoint vm mtu above network', (d) => { d.networks[0].dataplane = 'userspace'; d.networks[0].mtu = 1500; delete d.networks[0].endpoints[0].netns; d.networks[0].endpoints[0].vm = { tap: 'tap0', mtu: 9000 }; }, 'networks[0].endpoints[0].vm.mtu', /above the network's mtu 1500 \(the switch's frame limit/],
  ['endpoint ifname bad', (d) => (d.networks[0].endpoints[0].ifname = 'abcdefghijklmnop'), 'networks[0].endpoints[0].ifname', /not a valid interface name/],
  ['endpoint ifname with tap', (d) => { delete d.networks[0].endpoints[0].netns; d.networks[0].endpoints[0].tap = 't0'; d.networks[0].endpoints[0].ifname = 'eth1'; }, 'networks[0].endpoints[0].ifname', /only applies to netns endpoints/],
  ['endpoint mac bad', (d) => (d.networks[0].endpoints[0].mac = '02:42:zz:00:00:01'), 'networks[0].endpoints[0].mac', /expected a MAC address/],
  ['endpoint mac multicast', (d) => (d.networks[0].endpoints[0].mac = '01:00:5e:00:00:01'), 'networks[0].endpoints[0].mac', /multicast MAC/],
  ['endpoint mac zero', (d) => (d.networks[0].endpoints[0].mac = '00:00:00:00:00:00'), 'networks[0].endpoints[0].mac', /all-zero/],
  ['endpoint mac duplicate', (d) => (d.networks[0].endpoints[0].mac = '02:42:0A:00:24:0B'), 'networks[0].endpoints[1].mac', /already used by networks\[0\]\.endpoints\[0\]/],
  ['endpoint ip outside', (d) => (d.networks[0].endpoints[0].ip = '10.0.99.1'), 'networks[0].endpoints[0].ip', /outside the subnet/],
  ['endpoint ip network', (d) => (d.networks[0].endpoints[0].ip = '10.0.36.0'), 'networks[0].endpoints[0].ip', /network or broadcast/],
  ['endpoint ip gateway', (d) => (d.networks[0].endpoints[0].ip = '10.0.36.254'), 'networks[0].endpoints[0].ip', /gateway/],
  ['endpoint ip aux', (d) => (d.networks[0].endpoints[0].ip = '10.0.36.223'), 'networks[0].endpoints[0].ip', /aux address "host"/],
  ['endpoint ip family', (d) => (d.networks[0].endpoints[0].ip = 'fd00::5'), 'networks[0].endpoints[0].ip', /expected an IPv4 address/],
  ['endpoint ip duplicate', (d) => (d.networks[0].endpoints[1].ip = '10.0.36.10'), 'networks[0].endpoints[1].ip', /already assigned to networks\[0\]\.endpoints\[0\]/],
  ['endpoint ip shim', (d) => { d.networks[0]['aux-addresses'] = {}; d.networks[0].endpoints[0].ip = '10.0.36.223'; }, 'networks[0].endpoints[0].ip', /host shim's address/],
  ['endpoint ipv6 without subnet', (d) => (d.networks[0].endpoints[0].ipv6 = 'fd00::5'), 'networks[0].endpoints[0].ipv6', /needs an IPv6 subnet/],
  ['endpoint ipv6 outside', (d) => { d.networks[0].ipv6 = { subnet: 'fd00::/64' }; d.networks[0].endpoints[0].ipv6 = 'fd01::5'; }, 'networks[0].endpoints[0].ipv6', /outside the subnet/],
  ['endpoint ip without subnet', (d) => { for (const k of ['subnet', 'gateway', 'ip-range', 'aux-addresses', 'host-shim']) delete d.networks[0][k]; }, 'networks[0].endpoints[0].ip', /needs an IPv4 subnet/],
  ['endpoint vlan on kernel', (d) => (d.networks[0].endpoints[0].vlan = 5), 'networks[0].endpoints[0].vlan', /need dataplane: userspace/],
  ['endpoint vlan not int', (d) => { d.networks[0].dataplane = 'userspace'; d.networks[0].endpoints[0].vlan = 1.5; }, 'networks[0].endpoints[0].vlan', /an integer 1\.\.4094/],
  ['endpoint source-macs wrong mode', (d) => (d.networks[0].endpoints[0]['source-macs'] = ['02:00:00:00:00:01']), 'networks[0].endpoints[0].source-macs', /mode: source/],
  ['endpoint source-macs bad mac', (d) => { d.networks[0].mode = 'source'; d.networks[0].endpoints[0]['source-macs'] = ['x']; }, 'networks[0].endpoints[0].source-macs[0]', /expected a MAC/],
  ['endpoint name duplicate across networks', (d) => d.networks.push({ name: 'net2', parent: 'host1:eth1', endpoints: [{ name: 'a1', netns: 'z' }] }), 'networks[1].endpoints[0].name', /duplicate endpoint name "a1"/],
  ['network name duplicate', (d) => d.networks.push({ name: 'net1', parent: 'host1:eth1' }), 'networks[1].name', /duplicate network name/],
  ['kernel parent shared', (d) => d.networks.push({ name: 'net2', parent: { netns: 'host1', dev: 'eth0' } }), 'networks[1].parent', /already serves networks\[0\]/],
  ['userspace parent same vlan', (d) => { d.networks[0].dataplane = 'userspace'; d.networks[0].vlan = 7; d.networks.push({ name: 'net2', parent: 'host1:eth0', dataplane: 'userspace', vlan: 7 }); }, 'networks[1].vlan', /need distinct VLANs/],
  ['ifname clash in a namespace', (d) => (d.networks[0].endpoints[1].netns = 'ep-a1'), 'networks[0].endpoints[1].ifname', /already used by networks\[0\]\.endpoints\[0\]/],
  ['endpoint replaces parent', (d) => { d.networks[0].endpoints[0].netns = 'host1'; }, 'networks[0].endpoints[0].ifname', /parent host1:eth0 itself/],
];

test('the base document is valid and normalized', () => {
  const c = validateConfig(base());
  const n = c.networks[0];
  assert.equal(n.mode, 'bridge');
  assert.deepEqual(n.parent, { netns: 'host1', dev: 'eth0' });
  assert.equal(formatCidr(n.ipv4!.subnet), '10.0.36.0/24');
  assert.equal(formatIp(n.ipv4!.auxAddresses.host), '10.0.36.223');
  assert.equal(n.endpoints[0].ifname, 'eth0');
  assert.equal(n.endpoints[1].mac, '02:42:0a:00:24:0b');
});

test('a host shim takes one address per family: ip and ipv6', () => {
  const d = base();
  d.networks[0].ipv6 = { subnet: 'fd00:36::/64', 'ip-range': 'fd00:36::100/120' };
  d.networks[0]['host-shim'].ipv6 = 'fd00:36::223';
  const n = validateConfig(d).networks[0];
  assert.deepEqual(n.hostShim!.ips.map(formatIp), ['10.0.36.223', 'fd00:36::223']);
  // An IPv6-only network may give its shim's address as ip (as before).
  const v6 = validateConfig({ networks: [{ name: 'n6', parent: 'eth0', subnet: 'fd00::/64', 'host-shim': { name: 'm0', ip: 'fd00::fe' } }] }).networks[0];
  assert.deepEqual(v6.hostShim!.ips.map(formatIp), ['fd00::fe']);
});

for (const [title, patch, path, reason] of rows) {
  test(`config rejects: ${title}`, () => {
    const d = base();
    patch(d);
    assert.throws(
      () => validateConfig(d, 'test.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
        const hit = err.issues.find((i) => i.path === path && reason.test(i.reason));
        assert.ok(hit, `no issue at ${path} matching ${reason}; got:\n${err.message}`);
        assert.match(err.message, /^test\.yaml: invalid config/);
        return true;
      },
    );
  });
}

test('all problems are reported at once', () => {
  const d = base();
  d.networks[0].mode = 'nope';
  d.networks[0].subnet = 'x/1';
  d.networks[0].endpoints[1].mac = 'bad';
  d.networks.push({ name: 'b c', parent: 3, colour: 'red' });
  try {
    validateConfig(d);
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const paths = err.issues.map((i) => i.path);
    for (const p of ['networks[0].mode', 'networks[0].subnet', 'networks[0].endpoints[1].mac', 'networks[1].name', 'networks[1].parent', 'networks[1].colour'])
      assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`);
  }
});

test('parent shorthand, IPv6-only network and YAML/JSON parsing', () => {
  const c = parseConfig(`
networks:
  - name: v6net
    parent: host2:eth1
    subnet: fd00:36::/64
    gateway: fd00:36::1
    endpoints:
      - { name: e1, netns: n1, ip: fd00:36::10 }
`.replace('ip: fd00', 'ipv6: fd00'));
  assert.deepEqual(c.networks[0].parent, { netns: 'host2', dev: 'eth1' });
  assert.equal(c.networks[0].ipv4, undefined);
  assert.equal(formatCidr(c.networks[0].ipv6!.subnet), 'fd00:36::/64');
  assert.equal(formatIp(c.networks[0].endpoints[0].ipv6!), 'fd00:36::10');
  const j = parseConfig(JSON.stringify({ networks: [{ name: 'n', parent: 'eth9' }] }));
  assert.deepEqual(j.networks[0].parent, { dev: 'eth9' });
  assert.throws(() => parseConfig('networks: [\n'), /YAML/);
  assert.throws(() => parseConfig('networks: []\nnetworks: []\n'), /YAML/);
});

test('the shipped examples validate', () => {
  const dir = join(import.meta.dirname, '..', '..', 'examples');
  const files = readdirSync(dir).filter((f) => /\.ya?ml$|\.json$/.test(f));
  assert.ok(files.length >= 3, `expected example configs in ${dir}`);
  for (const f of files) parseConfig(readFileSync(join(dir, f), 'utf8'), f);
});

test('the complete examples in README.md and docs/service.md validate', () => {
  const root = join(import.meta.dirname, '..', '..');
  for (const [file, heading] of [['README.md', '## Configuration'], ['docs/service.md', '### Complete example']]) {
    const text = readFileSync(join(root, file), 'utf8');
    const from = text.indexOf(heading);
    assert.ok(from >= 0, `${file} has ${heading}`);
    const m = /```yaml\n([\s\S]*?)```/.exec(text.slice(from));
    assert.ok(m, `${file}: a yaml block after ${heading}`);
    const c = parseConfig(m[1], file);
    assert.ok(c.networks.length >= 2);
  }
});

test('a Docker-style parent eth0.30 is VLAN 30 on eth0, on the userspace data plane', () => {
  const d = base();
  delete d.networks[0].dataplane;
  d.networks[0].parent = 'host1:eth0.30';
  const n = validateConfig(d, 'x').networks[0];
  assert.deepEqual([n.parent, n.vlan, n.dataplane], [{ netns: 'host1', dev: 'eth0' }, 30, 'userspace']);
  const k = base(); // dataplane: kernel, written out
  k.networks[0].parent = { netns: 'host1', dev: 'eth0.30' };
  assert.throws(() => validateConfig(k, 'x'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues[0].path, 'networks[0].parent');
    assert.match(e.issues[0].reason, /"eth0.30" is VLAN 30 on eth0 .*dataplane: userspace .*no 802\.1Q/);
    return true;
  });
  const v = base();
  v.networks[0].dataplane = 'userspace';
  v.networks[0].parent = 'host1:eth0.30';
  v.networks[0].vlan = 31;
  assert.throws(() => validateConfig(v, 'x'), /networks\[0\]\.vlan: 31 disagrees with the parent "eth0.30" \(VLAN 30\)/);
  v.networks[0].vlan = 30;
  assert.equal(validateConfig(v, 'x').networks[0].vlan, 30);
});

test('mtu per userspace network', () => {
  const c = parseConfig('networks:\n  - { name: j, parent: eth9, dataplane: userspace, mtu: 9000 }\n');
  assert.equal(c.networks[0].mtu, 9000);
  assert.equal(parseConfig('networks:\n  - { name: j, parent: eth9 }\n').networks[0].mtu, undefined);
});
