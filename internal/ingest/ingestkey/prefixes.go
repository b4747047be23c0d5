package ingestkey

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultStatsDAllow is the source networks StatsD accepts by default:
// loopback only.
const DefaultStatsDAllow = "127.0.0.0/8,::1/128"

// ParsePrefixes parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, ::1/128"); a bare address is a prefix of its full length.
// Prefixes are masked ("10.1.2.3/8" is 10.0.0.0/8). An empty list is an
// error: it would refuse everything, which turning StatsD off does better.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(part, "/") {
			var err error
			if p, err = netip.ParsePrefix(part); err != nil {
				return nil, fmt.Errorf("invalid network %q: want a CIDR prefix such as 10.0.0.0/8 or fd00::/8", part)
			}
		} else {
			a, err := netip.ParseAddr(part)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("invalid network %q: want a CIDR prefix such as 10.0.0.0/8 or an address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("invalid network %q: zones are not allowed", part)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("invalid network list %q: empty", s)
	}
	return out, nil
}

// MustPrefixes is ParsePrefixes for constant lists.
func MustPrefixes(s string) []netip.Prefix {
	p, err := ParsePrefixes(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Contains reports whether addr is in one of prefixes. An IPv4 address
// mapped into IPv6 (as a dual-stack socket reports it) matches as IPv4.
func Contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// FormatPrefixes writes prefixes as ParsePrefixes reads them.
func FormatPrefixes(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}
