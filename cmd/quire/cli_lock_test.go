package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestLockAndCounterCommands(t *testing.T) {
	startServer(t)
	mustRun(t, "", "tenant", "create", "acme")

	var l struct {
		Lock  string
		Token int64
		Held  bool
		Owner string
	}
	out := mustRun(t, "", "lock", "acquire", "--tenant", "acme", "nightly", "--owner", "ops", "--ttl-ms", "60000")
	if err := json.Unmarshal([]byte(out), &l); err != nil || !l.Held || l.Token < 1 || l.Owner != "ops" {
		t.Fatalf("lock acquire printed %s (%v)", out, err)
	}
	if res := runCLI(t, "", "lock", "acquire", "--tenant", "acme", "nightly"); res.code != 1 || !strings.Contains(res.stderr, "lock_held") {
		t.Errorf("second acquire: exit %d, %q", res.code, res.stderr)
	}
	tok := strconv.FormatInt(l.Token, 10)
	mustRun(t, "", "lock", "renew", "--tenant", "acme", "nightly", "--fence-token", tok)
	if res := runCLI(t, "", "lock", "release", "--tenant", "acme", "nightly"); res.code != 2 {
		t.Errorf("release without --fence-token: exit %d, want 2", res.code)
	}
	if out := mustRun(t, "", "lock", "release", "--tenant", "acme", "nightly", "--fence-token", tok); !strings.Contains(out, `"released": true`) {
		t.Errorf("release printed %s", out)
	}
	if out := mustRun(t, "", "lock", "get", "--tenant", "acme", "nightly"); !strings.Contains(out, `"held": false`) || !strings.Contains(out, `"token": `+tok) {
		t.Errorf("lock get after release printed %s", out)
	}

	mustRun(t, "", "counter", "add", "--tenant", "acme", "logins", "5")
	if out := mustRun(t, "", "counter", "add", "--tenant", "acme", "logins", "--", "-2"); !strings.Contains(out, `"value": 3`) {
		t.Errorf("counter add printed %s", out)
	}
	if out := mustRun(t, "", "counter", "get", "--tenant", "acme", "logins"); !strings.Contains(out, `"value": 3`) {
		t.Errorf("counter get printed %s", out)
	}
	if res := runCLI(t, "", "counter", "add", "--tenant", "acme", "logins", "many"); res.code != 2 {
		t.Errorf("a non-integer delta: exit %d, want 2", res.code)
	}
	mustRun(t, "", "counter", "delete", "--tenant", "acme", "logins")
	if out := mustRun(t, "", "counter", "get", "--tenant", "acme", "logins"); !strings.Contains(out, `"value": 0`) {
		t.Errorf("counter after delete printed %s", out)
	}
}
