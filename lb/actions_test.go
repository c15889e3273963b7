package lb

import (
	"context"
	"errors"
	"testing"
)

func TestAct(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(t.Name(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c2"} {
		if _, err := m.Acquire(ctx, "user/1001", c); err != nil {
			t.Fatal(err)
		}
	}
	lines := func(action string, dests ...string) []string {
		t.Helper()
		s, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Act(ctx, m, s, action, dests)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Text("sales"))
		}
		return out
	}
	for _, tc := range []struct {
		action string
		dests  []string
		want   []string
	}{
		{ActionDrain, []string{"user/1001", "user/1009"}, []string{
			"sales: drained user/1001 (2 active calls keep counting until they end)",
			"sales: drained user/1009 (new to this balancer: check the spelling)"}},
		{ActionDrain, []string{"user/1001"}, []string{"sales: user/1001 was already drained"}},
		{ActionUndrain, []string{"user/1001"}, []string{"sales: undrained user/1001"}},
		{ActionUndrain, []string{"user/1001"}, []string{"sales: user/1001 was not drained"}},
		{ActionAway, []string{"user/1001", "user/1008"}, []string{
			"sales: user/1001 is away: it rejoins when its next call shows it back",
			"sales: user/1008 is away: it rejoins when its next call shows it back (new to this balancer: check the spelling)"}},
		{ActionRejoin, []string{"user/1001"}, []string{
			"sales: user/1001 rejoins: lifted to the mean score of its group at its next ranking"}},
		{ActionReset, []string{"user/1001", "user/1007"}, []string{"sales: reset user/1001, dropped 2 holds",
			"sales: reset user/1007, dropped 0 holds (new to this balancer: check the spelling)"}},
	} {
		got := lines(tc.action, tc.dests...)
		if len(got) != len(tc.want) {
			t.Fatalf("%s %v: %q, want %q", tc.action, tc.dests, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s %v: %q, want %q", tc.action, tc.dests, got[i], tc.want[i])
			}
		}
	}
	if _, err := Act(ctx, m, Snapshot{}, "frob", []string{"x"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown action: %v", err)
	}
}
