package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vservers/vserver/supervisor"
)

// TestStatusJSON: vinit ctl status --json writes what json.Encoder with
// SetIndent("", "  ") wrote before vinit stopped linking encoding/json.
func TestStatusJSON(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 1, 123456789, time.FixedZone("", 3600))
	for _, services := range [][]supervisor.Status{
		nil,
		{},
		{{Name: "web", State: supervisor.StateInactive}},
		{
			{Name: "db", State: supervisor.StateRunning, Pid: 12, Since: when, Started: when.Add(-time.Second), Restarts: 2, Ready: true, StatusText: "accepting <connections> & \"more\""},
			{Name: "batch", State: supervisor.StateExited, Since: when, LastExit: "exit status 0", Ready: true, Error: "\x00\t\u2028\xff"},
		},
	} {
		var got bytes.Buffer
		if err := printStatusJSON(&got, services); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if services == nil {
			services = []supervisor.Status{}
		}
		enc.Encode(services)
		if got.String() != want.String() {
			t.Errorf("got\n%s\nencoding/json:\n%s", got.String(), want.String())
		}
	}
}
