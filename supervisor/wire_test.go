package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The control socket's hand-written JSON (wire.go) against encoding/json,
// which wrote and read it before and which the types' json tags are for.

var (
	since   = time.Date(2026, 12, 1, 9, 30, 1, 120000000, time.UTC)
	started = time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("", 5*3600+1800))
)

var wireRequests = []Request{
	{Cmd: "status"},
	{Cmd: "stop", Name: "web"},
	{Cmd: "signal", Name: "web", Signal: "HUP"},
	{Cmd: "logs", Name: "web", Lines: 2, Follow: true},
	{Cmd: "logs", Name: "we\"b\\\n<&>\x01\u2028\xff", Lines: -1},
	{},
}

var wireResponses = []Response{
	{Done: true},
	{Done: true, Error: "no such service \"x\""},
	{Line: "2026-12-01T09:30:01.120Z listening on :80"},
	{Services: []Status{}},
	{Services: []Status{
		{Name: "db", State: StateRunning, Pid: 12, Since: since, Started: started, Restarts: 2, Ready: true, StatusText: "accepting <connections>"},
		{Name: "batch", State: StateExited, Since: since, LastExit: "exit status 0", Ready: true},
		{Name: "web", State: StateFailed, Error: "start limit: 5 starts in 10s", LastExit: "signal: SIGKILL"},
	}},
	{},
}

func TestWireEncode(t *testing.T) {
	for _, req := range wireRequests {
		checkEncodeRequest(t, req)
	}
	for _, resp := range wireResponses {
		checkEncodeResponse(t, resp)
	}
	// The examples of docs/vinit.md.
	for _, c := range []struct {
		got  []byte
		want string
	}{
		{appendRequest(nil, &Request{Cmd: "stop", Name: "web"}), `{"cmd":"stop","name":"web"}`},
		{appendRequest(nil, &Request{Cmd: "logs", Name: "web", Lines: 2}), `{"cmd":"logs","name":"web","lines":2}`},
		{must(appendResponse(nil, &Response{Done: true})), `{"done":true}`},
		{must(appendResponse(nil, &Response{Line: "2026-12-01T09:30:01.120Z listening on :80"})), `{"line":"2026-12-01T09:30:01.120Z listening on :80"}`},
		{must(appendResponse(nil, &Response{Services: []Status{{Name: "a", State: StateInactive}}})), `{"services":[{"name":"a","state":"inactive","since":"0001-01-01T00:00:00Z","restarts":0,"ready":false}]}`},
	} {
		if string(c.got) != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	var buf bytes.Buffer
	enc := &lineEncoder{w: &buf}
	for _, r := range wireResponses {
		enc.Encode(r)
	}
	var want bytes.Buffer
	jenc := json.NewEncoder(&want)
	for _, r := range wireResponses {
		jenc.Encode(r)
	}
	if buf.String() != want.String() {
		t.Errorf("lineEncoder wrote\n%s\njson.Encoder writes\n%s", buf.String(), want.String())
	}
	// A time json.Marshal refuses is refused too.
	if _, err := appendResponse(nil, &Response{Services: []Status{{Name: "x", Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}); err == nil {
		t.Error("year 10000: no error")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func checkEncodeRequest(t *testing.T, req Request) {
	t.Helper()
	got := appendRequest(nil, &req)
	want, _ := json.Marshal(req)
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v:\ngot  %s\njson %s", req, got, want)
	}
	var jr Request
	json.Unmarshal(got, &jr)
	if mr, err := decodeRequest(got); err != nil || !reflect.DeepEqual(mr, jr) {
		t.Fatalf("decoding %s: %+v, %v; encoding/json: %+v", got, mr, err, jr)
	}
}

func checkEncodeResponse(t *testing.T, resp Response) {
	t.Helper()
	got, err := appendResponse(nil, &resp)
	want, jerr := json.Marshal(resp)
	if (err == nil) != (jerr == nil) {
		t.Fatalf("%+v: error %v; encoding/json: %v", resp, err, jerr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v:\ngot  %s\njson %s", resp, got, want)
	}
	var jr Response
	json.Unmarshal(got, &jr)
	if mr, err := decodeResponse(got); err != nil || !reflect.DeepEqual(mr, jr) {
		t.Fatalf("decoding %s:\n%+v, %v\nencoding/json:\n%+v", got, mr, err, jr)
	}
	got, err = MarshalStatus(resp.Services)
	if want, _ := json.Marshal(resp.Services); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("MarshalStatus(%+v) = %s, %v; encoding/json: %s", resp.Services, got, err, want)
	}
}

func FuzzWireEncode(f *testing.F) {
	f.Add("logs", "web", "", 10, true, false, "", "a line", uint8(1), "db", "running", "", "ok", "", 12, 0, true, since.Unix(), started.Unix(), uint32(120000000), int16(330))
	f.Add("", "", "HUP", -1, false, true, "failed \"badly\"", "", uint8(3), "x\xff", "", "exit status 1", "<b>", "e\n", 0, 7, false, int64(-62135596800), int64(0), uint32(0), int16(0))
	f.Add("status", "", "", 0, false, true, "", "", uint8(4), "", "", "", "", "", 0, 0, false, int64(253402300800), int64(1), uint32(999999999), int16(-720))
	f.Fuzz(func(t *testing.T, cmd, name, signal string, lines int, follow, done bool, errText, line string,
		n uint8, sname, state, lastExit, text, serr string, pid, restarts int, ready bool, sinceSec, startedSec int64, nsec uint32, zoneMin int16) {
		checkEncodeRequest(t, Request{Cmd: cmd, Name: name, Signal: signal, Lines: lines, Follow: follow})
		zone := time.FixedZone("", int(zoneMin)*60)
		var services []Status
		if n%5 == 4 {
			services = []Status{}
		}
		for i := range int(n % 5 % 4) {
			st := Status{
				Name: fmt.Sprint(sname, i), State: State(state), Pid: pid + i, Since: time.Unix(sinceSec, int64(nsec%1e9)).In(zone),
				Restarts: restarts, Ready: ready != (i%2 == 1), LastExit: lastExit, StatusText: text, Error: serr,
			}
			if startedSec != 0 {
				st.Started = time.Unix(startedSec+int64(i), int64(nsec%1e9)).In(zone)
			}
			services = append(services, st)
		}
		checkEncodeResponse(t, Response{Done: done, Error: errText, Services: services, Line: line})
	})
}

var wireInputs = []string{
	`{"cmd":"stop","name":"web"}`,
	`{"cmd":"logs","name":"web","lines":2,"follow":true}` + "\n",
	` {"CMD":"status", "Name":"x", "unknown":{"a":[1,2,{"b":null}]}, "lines":null} `,
	`{"ſignal":"HUP","cmd":"K"}`, // ſ folds to s
	`{"cmd":"a","cmd":"b"}`,
	`null`, `{}`, ``, `[]`, `"status"`, `{"cmd":1}`, `{"lines":1.0}`, `{"lines":1e2}`, `{"lines":-0}`,
	`{"lines":9223372036854775808}`, `{"follow":"true"}`, `{"cmd":"x"} {"cmd":"y"}`, `{"cmd":"x",}`,
	`{"cmd":"\u00e9\ud800\"\\"}`, "{\"cmd\":\"\xff\"}", `{"cmd":"status"`,
	`{"done":true}`, `{"done":true,"error":"no"}`, `{"line":"x"}`, `{"services":null}`, `{"services":[]}`,
	`{"services":[null,{}]}`, `{"services":{}}`, `{"services":[1]}`,
	`{"services":[{"name":"db","state":"running","pid":12,"since":"2026-12-01T09:30:01.12Z","started":"2026-12-01T09:30:00+05:30","restarts":2,"ready":true,"status_text":"s","last_exit":"e","error":"x"}]}`,
	`{"services":[{"since":null,"started":"0001-01-01T00:00:00Z"}]}`,
	`{"services":[{"since":"2026-12-01 09:30:01Z"}]}`, `{"services":[{"since":"2026-12-01T09:30:01\u005a"}]}`,
	`{"services":[{"since":1}]}`, `{"services":[{"since":{}}]}`, `{"services":[{"since":"2026-13-01T00:00:00Z"}]}`,
	`{"services":[{"name":"a","pid":1},{"name":"b","pid":2},{"name":"c"}],"services":[{"name":"x"}],"services":[{},{}]}`,
	`{"services":[{"Name":"a","PID":3,"Ready":true,"LAST_EXIT":"x"}]}`,
}

func TestWireDecode(t *testing.T) {
	for _, in := range wireInputs {
		checkDecode(t, []byte(in))
	}
}

func TestWireDecodeErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, "json: unexpected end of input looking for the beginning of a value (at byte 0)"},
		{`status`, "json: invalid character 's' looking for the beginning of a value (at byte 0)"},
		{`{"cmd":"status"`, "json: unexpected end of input after an object member (at byte 15)"},
		{`{"cmd":["status"]}`, `json: "cmd": want a string, got an array (at byte 7)`},
		{`{"cmd":"logs","lines":"10"}`, `json: "lines": want a number, got a string (at byte 22)`},
		{`{"cmd":"logs","follow":1}`, `json: "follow": want a boolean, got a number (at byte 23)`},
	} {
		if _, err := decodeRequest([]byte(c.in)); err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v, want %s", c.in, err, c.want)
		}
	}
	_, err := decodeResponse([]byte(`{"services":[{"since":"yesterday"}]}`))
	if err == nil || !strings.HasPrefix(err.Error(), `json: "since": parsing time "yesterday"`) {
		t.Errorf("a bad time: %v", err)
	}
}

// checkDecode decodes in as a Request and as a Response, and compares
// with encoding/json: both fail, or both give the same value.
func checkDecode(t *testing.T, in []byte) {
	t.Helper()
	var jreq Request
	jerr := json.Unmarshal(in, &jreq)
	req, err := decodeRequest(in)
	if (err == nil) != (jerr == nil) || err == nil && !reflect.DeepEqual(req, jreq) {
		t.Fatalf("Request from %q:\n%+v, %v\nencoding/json:\n%+v, %v", in, req, err, jreq, jerr)
	}
	var jresp Response
	jerr = json.Unmarshal(in, &jresp)
	resp, err := decodeResponse(in)
	if (err == nil) != (jerr == nil) || err == nil && !reflect.DeepEqual(resp, jresp) {
		t.Fatalf("Response from %q:\n%#v, %v\nencoding/json:\n%#v, %v", in, resp, err, jresp, jerr)
	}
}

func FuzzWireDecode(f *testing.F) {
	for _, in := range wireInputs {
		f.Add([]byte(in))
	}
	for _, r := range wireResponses {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(checkDecode)
}
