package sock

import "strings"

// SplitHostPort splits "host:port", "[host]:port" or "[host%zone]:port" into
// host (without brackets) and port, as net.SplitHostPort does and with its
// rules: the port follows the last colon, a host with a colon needs the
// brackets, and no stray bracket is allowed. Neither part is checked
// further: the port may be empty or not a number.
func SplitHostPort(hostport string) (host, port string, err error) {
	fail := func(why string) (string, string, error) {
		return "", "", &AddrError{Addr: hostport, Err: why}
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return fail("missing port in address")
	}
	j, k := 0, 0 // no '[' from j on, no ']' from k on
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		switch {
		case end < 0:
			return fail("missing ']' in address")
		case end+1 == len(hostport):
			return fail("missing port in address")
		case end+1 != i && hostport[end+1] == ':':
			return fail("too many colons in address")
		case end+1 != i:
			return fail("missing port in address")
		}
		host = hostport[1:end]
		j, k = 1, end+1
	} else {
		host = hostport[:i]
		if strings.IndexByte(host, ':') >= 0 {
			return fail("too many colons in address")
		}
	}
	if strings.IndexByte(hostport[j:], '[') >= 0 {
		return fail("unexpected '[' in address")
	}
	if strings.IndexByte(hostport[k:], ']') >= 0 {
		return fail("unexpected ']' in address")
	}
	return host, hostport[i+1:], nil
}

// AddrError is an address SplitHostPort cannot split.
type AddrError struct {
	Addr string
	Err  string
}

func (e *AddrError) Error() string {
	if e.Addr == "" {
		return e.Err
	}
	return "address " + e.Addr + ": " + e.Err
}
