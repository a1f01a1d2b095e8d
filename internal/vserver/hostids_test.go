package vserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserNSRangeClearOfHostIDs: a range that takes in a host user, a host
// group or another user's subordinate ids is refused, each with the file
// and line that claims it; root's own subordinate ranges are allowed.
func TestUserNSRangeClearOfHostIDs(t *testing.T) {
	root := t.TempDir()
	p := Paths{Root: root}
	write := func(rel, text string) {
		t.Helper()
		f := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Context 2, auto: host ids 131072 to 196607.
	write("etc/vhost/vservers/web.yaml", "image: demo\ncontext: 2\nuser_namespace: auto\nnetwork:\n  mode: none\n")
	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
	write("etc/group", "root:x:0:\n")
	write("etc/subuid", "root:131072:65536\n")
	write("etc/subgid", "# allotted by hand\nroot:131072:65536\n")
	cfg, err := Load(p, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConflicts(p, cfg); err != nil {
		t.Fatalf("a range inside root's subordinate ids, clear of every user: %v", err)
	}

	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nold:x:140000:100::/home/old:/bin/sh\n")
	write("etc/group", "root:x:0:\nold:x:140001:\n")
	write("etc/subuid", "root:131072:65536\nalice:160000:65536\n")
	err = CheckConflicts(p, cfg)
	if err == nil {
		t.Fatal("a range over a host user, a host group and alice's subordinate ids was accepted")
	}
	cfgFile := filepath.Join(root, "etc/vhost/vservers/web.yaml")
	for _, want := range []string{
		cfgFile + ":3:17: user_namespace: host ids 131072 to 196607 include host user old (id 140000, " + filepath.Join(root, "etc/passwd") + ":2)",
		cfgFile + ":3:17: user_namespace: host ids 131072 to 196607 include host group old (id 140001, " + filepath.Join(root, "etc/group") + ":2)",
		cfgFile + ":3:17: user_namespace: host ids 131072 to 196607 overlap alice's subordinate ids 160000 to 225535 (" + filepath.Join(root, "etc/subuid") + ":2)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks\n  %s\ngot:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "root's") || strings.Contains(err.Error(), "subgid") {
		t.Errorf("root's subordinate ranges were refused:\n%v", err)
	}
}
