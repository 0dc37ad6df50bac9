# Independent RFC 1071 / RFC 8200 §8.1 checksum, for packages/icmp/test/wire6.test.ts goldens.
import ipaddress, struct
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def a(t): return ipaddress.IPv6Address(t).packed
def l4(src, dst, nh, msg, ck_off):
    ph = a(src) + a(dst) + struct.pack('!IxxxB', len(msg), nh)
    m = bytearray(msg); m[ck_off:ck_off+2] = b'\0\0'
    c = csum(ph + bytes(m)); m[ck_off:ck_off+2] = struct.pack('!H', c); return bytes(m)
def ip6(src, dst, nh, payload, hlim=64, flow=0):
    return struct.pack('!IHBB', (6 << 28) | flow, len(payload), nh, hlim) + a(src) + a(dst) + payload
# 1. verify the kernel's capture (ping -6 ::1)
cap = bytes.fromhex('6006116b00403a4000000000000000000000000000000001000000000000000000000000000000018000cabf5d5a00019d4e166b00000000e1db030000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637')
icmp = cap[40:]
print('kernel echo request checksum', icmp[2:4].hex(), 'python', '%04x' % struct.unpack('!H', l4('::1','::1',58,icmp,2)[2:4])[0])
# 2. echo request fd07::1 -> fd07::2, ident 0x1234 seq 1 'abcd'
print('echo', l4('fd07::1','fd07::2',58, bytes.fromhex('80000000123400016162636465'), 2).hex())
# 3. a UDP datagram fd07::1:12345 -> fd07::2:9 'hi', then port unreachable about it
udp = l4('fd07::1','fd07::2',17, struct.pack('!HHHH', 12345, 9, 10, 0) + b'hi', 6)
inv = ip6('fd07::1','fd07::2',17, udp)
print('invoking udp', inv.hex())
print('unreach', l4('fd07::2','fd07::1',58, bytes([1,4,0,0,0,0,0,0]) + inv, 2).hex())
# 4. packet too big mtu 1280 from fd07::ff to fd07::2 about the same packet
print('ptb', l4('fd07::ff','fd07::1',58, bytes([2,0,0,0]) + struct.pack('!I',1280) + inv, 2).hex())
# 5. parameter problem code 1 pointer 40 (next header of ... ) ; time exceeded code 1
print('pp', l4('fd07::2','fd07::1',58, bytes([4,1,0,0]) + struct.pack('!I',6) + inv, 2).hex())
print('te', l4('fd07::2','fd07::1',58, bytes([3,1,0,0,0,0,0,0]) + inv, 2).hex())
# 6. router solicitation fe80::1 -> ff02::2 (RFC 4861 §4.1, no options)
print('rs', l4('fe80::1','ff02::2',58, bytes([133,0,0,0,0,0,0,0]), 2).hex())
# 7. MLDv2 report fe80::1 -> ff02::16, one record CHANGE_TO_EXCLUDE ff02::1:ff00:2 (RFC 3810 §5.2)
rec = bytes([4,0,0,0]) + a('ff02::1:ff00:2')
print('mld2', l4('fe80::1','ff02::16',58, bytes([143,0,0,0,0,0,0,1]) + rec, 2).hex())
# 8. the other informational types recognised and counted (RFC 2710 §3, RFC 4861 §4.2-4.5), at their fixed length
print('mldq', l4('fe80::1','ff02::1',58, bytes([130,0,0,0]) + struct.pack('!HH', 10000, 0) + a('::'), 2).hex())
print('mldr', l4('fe80::1','ff02::1:ff00:2',58, bytes([131,0,0,0]) + struct.pack('!HH', 0, 0) + a('ff02::1:ff00:2'), 2).hex())
print('mldd', l4('fe80::1','ff02::2',58, bytes([132,0,0,0]) + struct.pack('!HH', 0, 0) + a('ff02::1:ff00:2'), 2).hex())
print('ra', l4('fe80::1','ff02::1',58, bytes([134,0,0,0, 64, 0]) + struct.pack('!HII', 1800, 0, 0), 2).hex())
print('ns', l4('fe80::1','ff02::1:ff00:2',58, bytes([135,0,0,0,0,0,0,0]) + a('fd07::2'), 2).hex())
print('na', l4('fd07::1','fd07::2',58, bytes([136,0,0,0, 0x60,0,0,0]) + a('fd07::1'), 2).hex())
print('redirect', l4('fe80::1','fd07::2',58, bytes([137,0,0,0,0,0,0,0]) + a('fe80::2') + a('2001:db8::1'), 2).hex())
