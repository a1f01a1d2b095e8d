package supervisor

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vservers/vserver/internal/minijson"
)

// The control socket's JSON, written and read by hand with
// internal/minijson so that vinit does not link encoding/json. The json
// tags of Request, Response and Status are the schema this code follows
// (names, omitempty, omitzero); wire_test.go holds it to them against
// encoding/json, byte for byte when writing.

// lineEncoder writes Responses as JSON lines, as a json.Encoder did.
type lineEncoder struct {
	w   io.Writer
	buf []byte
}

// Encode writes r and a newline.
func (e *lineEncoder) Encode(r Response) error {
	b, err := appendResponse(e.buf[:0], &r)
	if err != nil {
		return err
	}
	e.buf = append(b, '\n')
	_, err = e.w.Write(e.buf)
	return err
}

func appendRequest(b []byte, r *Request) []byte {
	o := minijson.Begin(b)
	o.String("cmd", r.Cmd)
	if r.Name != "" {
		o.String("name", r.Name)
	}
	if r.Signal != "" {
		o.String("signal", r.Signal)
	}
	if r.Lines != 0 {
		o.Int("lines", r.Lines)
	}
	if r.Follow {
		o.Bool("follow", true)
	}
	return o.End()
}

func appendResponse(b []byte, r *Response) ([]byte, error) {
	o := minijson.Begin(b)
	if r.Done {
		o.Bool("done", true)
	}
	if r.Error != "" {
		o.String("error", r.Error)
	}
	if len(r.Services) > 0 {
		if err := o.Value("services", func(b []byte) ([]byte, error) { return appendStatuses(b, r.Services) }); err != nil {
			return b, err
		}
	}
	if r.Line != "" {
		o.String("line", r.Line)
	}
	return o.End(), nil
}

// MarshalStatus writes services as encoding/json writes a []Status:
// null for nil, and an array of objects.
func MarshalStatus(services []Status) ([]byte, error) {
	return appendStatuses(nil, services)
}

func appendStatuses(b []byte, services []Status) ([]byte, error) {
	if services == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range services {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendStatus(b, &services[i]); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func appendStatus(b []byte, st *Status) ([]byte, error) {
	o := minijson.Begin(b)
	o.String("name", st.Name)
	o.String("state", string(st.State))
	if st.Pid != 0 {
		o.Int("pid", st.Pid)
	}
	if err := o.Time("since", st.Since); err != nil {
		return b, fmt.Errorf("status of %q: since: %w", st.Name, err)
	}
	if !st.Started.IsZero() {
		if err := o.Time("started", st.Started); err != nil {
			return b, fmt.Errorf("status of %q: started: %w", st.Name, err)
		}
	}
	o.Int("restarts", st.Restarts)
	o.Bool("ready", st.Ready)
	if st.LastExit != "" {
		o.String("last_exit", st.LastExit)
	}
	if st.StatusText != "" {
		o.String("status_text", st.StatusText)
	}
	if st.Error != "" {
		o.String("error", st.Error)
	}
	return o.End(), nil
}

// The decoders match keys as encoding/json does, case-insensitively, and
// skip the ones they do not know.

func decodeRequest(data []byte) (Request, error) {
	var r Request
	err := minijson.Decode(data, func(d *minijson.Decoder) error {
		return d.Object(func(key string) error {
			switch {
			case strings.EqualFold(key, "cmd"):
				return d.String(&r.Cmd)
			case strings.EqualFold(key, "name"):
				return d.String(&r.Name)
			case strings.EqualFold(key, "signal"):
				return d.String(&r.Signal)
			case strings.EqualFold(key, "lines"):
				return d.Int(&r.Lines)
			case strings.EqualFold(key, "follow"):
				return d.Bool(&r.Follow)
			}
			return d.Skip()
		})
	})
	return r, err
}

func decodeResponse(data []byte) (Response, error) {
	var r Response
	err := minijson.Decode(data, func(d *minijson.Decoder) error {
		return d.Object(func(key string) error {
			switch {
			case strings.EqualFold(key, "done"):
				return d.Bool(&r.Done)
			case strings.EqualFold(key, "error"):
				return d.String(&r.Error)
			case strings.EqualFold(key, "services"):
				return decodeStatuses(d, &r.Services)
			case strings.EqualFold(key, "line"):
				return d.String(&r.Line)
			}
			return d.Skip()
		})
	})
	return r, err
}

// decodeStatuses reads an array of Status into *p as encoding/json does:
// null is nil, [] an empty slice, and each element is read into the
// slice's element of that index if there is one (a key given twice merges).
func decodeStatuses(d *minijson.Decoder, p *[]Status) error {
	s := *p
	n, err := d.Array(func(i int) error {
		switch {
		case i >= cap(s): // then len(s) == cap(s) == i
			s = append(s, Status{})
		case i >= len(s):
			s = s[:i+1]
		}
		return decodeStatus(d, &s[i])
	})
	switch {
	case err != nil:
	case n < 0:
		s = nil
	case n == 0:
		s = []Status{}
	default:
		s = s[:n]
	}
	*p = s
	return err
}

func decodeStatus(d *minijson.Decoder, st *Status) error {
	return d.Object(func(key string) error {
		switch {
		case strings.EqualFold(key, "name"):
			return d.String(&st.Name)
		case strings.EqualFold(key, "state"):
			return d.String((*string)(&st.State))
		case strings.EqualFold(key, "pid"):
			return d.Int(&st.Pid)
		case strings.EqualFold(key, "since"):
			return decodeTime(d, &st.Since)
		case strings.EqualFold(key, "started"):
			return decodeTime(d, &st.Started)
		case strings.EqualFold(key, "restarts"):
			return d.Int(&st.Restarts)
		case strings.EqualFold(key, "ready"):
			return d.Bool(&st.Ready)
		case strings.EqualFold(key, "last_exit"):
			return d.String(&st.LastExit)
		case strings.EqualFold(key, "status_text"):
			return d.String(&st.StatusText)
		case strings.EqualFold(key, "error"):
			return d.String(&st.Error)
		}
		return d.Skip()
	})
}

// decodeTime reads a time as encoding/json does: it hands time.Time's
// UnmarshalJSON the value's text as it is (so null leaves t alone, and a
// string with escapes in it is not a time).
func decodeTime(d *minijson.Decoder, t *time.Time) error {
	raw, err := d.Raw()
	if err != nil {
		return err
	}
	if err := t.UnmarshalJSON(raw); err != nil {
		return d.Fail(err)
	}
	return nil
}
