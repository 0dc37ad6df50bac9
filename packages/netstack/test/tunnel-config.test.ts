import { describe, expect, it } from 'vitest';
import { parseWgConfig, WgConfigError } from '../src/tunnel/config.js';

const K1 = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const K2 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const K3 = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';

function error(text: string): WgConfigError {
  try {
    parseWgConfig(text);
  } catch (err) {
    expect(err).toBeInstanceOf(WgConfigError);
    return err as WgConfigError;
  }
  throw new Error('no error');
}

describe('wg-quick config', () => {
  it('reads an interface and two peers: comments, case-insensitive keys, lists, repeated list keys, both families', () => {
    const c = parseWgConfig(`
# a comment
[Interface]
PrivateKey = ${K1}   # trailing comment
Address = 10.100.0.1/24, fd00:100::1/64
ListenPort = 51820
mtu = 1380
DNS = 10.100.0.53

[Peer]
PublicKey = ${K2}
PresharedKey = ${PSK}
AllowedIPs = 10.100.0.2/32, 192.168.7.9/24
allowedips = FD00:100:0:0::2/128
Endpoint = 10.99.0.2:51820
PersistentKeepalive = 25

[Peer]
PublicKey = ${K3}
AllowedIPs = 10.200.0.0/16
Endpoint = [fd99::2]:4500
PersistentKeepalive = off
`);
    expect(c).toEqual({
      privateKey: K1,
      addresses: ['10.100.0.1/24', 'fd00:100::1/64'],
      listenPort: 51820,
      mtu: 1380,
      ignored: [{ key: 'DNS', line: 8 }],
      peers: [
        {
          publicKey: K2, presharedKey: PSK,
          // host bits cleared, IPv6 in its canonical form, as wg shows them
          allowedIPs: ['10.100.0.2/32', '192.168.7.0/24', 'fd00:100::2/128'],
          endpoint: { host: '10.99.0.2', port: 51820 }, persistentKeepalive: 25,
        },
        { publicKey: K3, allowedIPs: ['10.200.0.0/16'], endpoint: { host: 'fd99::2', port: 4500 } },
      ],
    });
  });

  it('an address without a prefix is a host; a host name endpoint is kept to resolve; CRLF lines', () => {
    const c = parseWgConfig(`[Interface]\r\nPrivateKey=${K1}\r\nAddress=10.1.1.1\r\n[Peer]\r\nPublicKey=${K2}\r\nAllowedIPs=10.1.1.2\r\nEndpoint=vpn.example.org:51820\r\n`);
    expect(c.addresses).toEqual(['10.1.1.1/32']);
    expect(c.peers[0]!.allowedIPs).toEqual(['10.1.1.2/32']);
    expect(c.peers[0]!.endpoint).toEqual({ host: 'vpn.example.org', port: 51820 });
  });

  it.each([
    [`[Interface]\nPrivateKey = ${K1}\nBogus = 1`, 3, /unknown key 'Bogus' in \[Interface\]/],
    [`[Interface]\nPrivateKey = abc`, 2, /PrivateKey must be 32 bytes in base64/],
    [`[Interface]\nPrivateKey = ${K1.slice(0, 42)}B=`, 2, /32 bytes/], // non-canonical last character
    [`PrivateKey = ${K1}`, 1, /before any \[Interface\]/],
    [`[Interface]\nPrivateKey = ${K1}\n[Wat]`, 3, /unknown section \[Wat\]/],
    [`[Interface]\nPrivateKey = ${K1}\nListenPort = 70000`, 3, /ListenPort must be an integer in 0\.\.65535/],
    [`[Interface]\nPrivateKey = ${K1}\nMTU = 1.5`, 3, /MTU/],
    [`[Interface]\nPrivateKey = ${K1}\nAddress = 10.0.0.1/33`, 3, /prefix length 33/],
    [`[Interface]\nPrivateKey = ${K1}\nAddress = 10.0.0.300/24`, 3, /not an IPv4 or IPv6 address/],
    [`[Interface]\nPrivateKey = ${K1}\njust words`, 3, /expected 'Key = Value'/],
    [`[Interface]\nPrivateKey = ${K1}\nPrivateKey = ${K2}`, 3, /PrivateKey given twice/],
    [`[Interface]\nPrivateKey = ${K1}\n[Interface]`, 3, /a second \[Interface\] \(the first is on line 1\)/],
    [`[Interface]\nAddress = 10.0.0.1/24`, 1, /has no PrivateKey/],
    [`[Interface]\nPrivateKey = ${K1}\n\n[Peer]\nAllowedIPs = 10.0.0.2/32`, 4, /\[Peer\] has no PublicKey/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\n[Peer]\nPublicKey = ${K2}`, 5, /same PublicKey as the \[Peer\] on line 3/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = 10.0.0.2`, 5, /Endpoint must be host:port/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = fd00::1:51820`, 5, /Endpoint must be host:port or \[IPv6\]:port/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = [10.0.0.1]:5`, 5, /not an IPv6 address/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = 10.0.0.1:0`, 5, /port must be an integer in 1\.\.65535/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nPersistentKeepalive = -1`, 5, /PersistentKeepalive/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nAllowedIPs = 10.0.0.0/8, nope`, 5, /AllowedIPs: 'nope'/],
    [`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nListenPort = 1`, 5, /unknown key 'ListenPort' in \[Peer\]/],
  ])('refuses with the line: %#', (text, line, message) => {
    const e = error(text);
    expect(e.line).toBe(line);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(new RegExp(`^line ${line}: `));
  });

  it('no [Interface] at all', () => {
    const e = error(`[Peer]\nPublicKey = ${K2}`);
    expect(e.message).toBe('no [Interface] section');
  });
});

describe('the routes of a tunnel (netstack tunnel)', () => {
  it('one on-link route per allowed IP outside the interface subnets; a /0 as its two /1 halves, its family named; duplicates once', async () => {
    const { tunnelRoutes } = await import('../src/cli.js');
    const c = parseWgConfig(`[Interface]\nPrivateKey = ${K1}\nAddress = 10.100.0.1/24, fd00:100::1/64\n` +
      `[Peer]\nPublicKey = ${K2}\nAllowedIPs = 10.100.0.2/32, 10.200.0.0/16, fd00:100::2/128, fd00:200::/48\n` +
      `[Peer]\nPublicKey = ${K3}\nAllowedIPs = 0.0.0.0/0, 10.200.0.0/16, 10.100.0.0/16`);
    expect(tunnelRoutes(c)).toEqual({
      routes: [{ dst: '10.200.0.0/16' }, { dst: 'fd00:200::/48' }, { dst: '0.0.0.0/1' }, { dst: '128.0.0.0/1' }, { dst: '10.100.0.0/16' }],
      skipped: [],
      defaults: new Set([4]),
    });
    const v6 = parseWgConfig(`[Interface]\nPrivateKey = ${K1}\nAddress = 10.100.0.1/24\n[Peer]\nPublicKey = ${K2}\nAllowedIPs = ::/0, 0.0.0.0/0, ::/0`);
    expect(tunnelRoutes(v6)).toEqual({
      routes: [{ dst: '::/1' }, { dst: '8000::/1' }, { dst: '0.0.0.0/1' }, { dst: '128.0.0.0/1' }],
      skipped: [],
      defaults: new Set([4, 6]),
    });
  });
});

describe('underlay routes for a /0 peer (parseRouteGet: `ip route get` output)', () => {
  it('gateway and device, on-link, IPv6; local and unreachable endpoints get none', async () => {
    const { parseRouteGet } = await import('../src/tunnel/underlay-routes.js');
    expect(parseRouteGet('10.98.0.2 via 10.99.0.254 dev vta src 10.99.0.1 uid 0 \n    cache \n')).toEqual({ via: '10.99.0.254', dev: 'vta' });
    expect(parseRouteGet('10.99.0.2 dev vta src 10.99.0.1 uid 0 \n    cache \n')).toEqual({ dev: 'vta' });
    expect(parseRouteGet('2001:db8::2 from :: via fe80::1 dev eth0 proto ra src 2001:db8::1 metric 1024 pref medium\n')).toEqual({ via: 'fe80::1', dev: 'eth0' });
    expect(parseRouteGet('10.1.0.2 via inet6 fe80::1 dev eth0 src 10.1.0.1 uid 0\n')).toEqual({ via: 'fe80::1', dev: 'eth0' });
    expect(parseRouteGet('local 10.99.0.1 dev lo src 10.99.0.1 uid 0 \n    cache <local> \n')).toBeUndefined();
    expect(parseRouteGet('unreachable 10.5.0.1 uid 0\n')).toBeUndefined();
    expect(parseRouteGet('')).toBeUndefined();
  });
});
