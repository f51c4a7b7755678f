package quire

import (
	"context"
	"strconv"
	"strings"
)

// Fence is a lock token a write carries (Quire-Fence: <lock>=<token>): the
// writer refuses the write if a newer token has been issued for the lock.
type Fence struct {
	Lock  string
	Token int64
}

// MaxFences is the most fences one request may carry.
const MaxFences = 16

// ParseFences parses a Quire-Fence header value: comma-separated
// <lock>=<token> pairs, lock names as CheckName allows, positive tokens.
func ParseFences(header string) ([]Fence, error) {
	if strings.TrimSpace(header) == "" {
		return nil, nil
	}
	parts := strings.Split(header, ",")
	if len(parts) > MaxFences {
		return nil, Errorf(EInvalid, "at most %d fences per request", MaxFences)
	}
	out := make([]Fence, 0, len(parts))
	for _, p := range parts {
		name, tok, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return nil, Errorf(EInvalid, "Quire-Fence is <lock>=<token>[, ...]")
		}
		if err := CheckName("lock", name); err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || n <= 0 {
			return nil, Errorf(EInvalid, "Quire-Fence token of lock %q must be a positive integer", name)
		}
		out = append(out, Fence{Lock: name, Token: n})
	}
	return out, nil
}

type fencesKey struct{}

// WithFences returns ctx carrying the fences of a write; the writer checks
// them inside the write's transaction.
func WithFences(ctx context.Context, fs []Fence) context.Context {
	if len(fs) == 0 {
		return ctx
	}
	return context.WithValue(ctx, fencesKey{}, fs)
}

// FencesFrom returns the fences ctx carries.
func FencesFrom(ctx context.Context) []Fence {
	fs, _ := ctx.Value(fencesKey{}).([]Fence)
	return fs
}

// WithoutFences returns ctx without the fences of its request. Lock
// operations use it: a lock's own token rules apply to them, and the
// Quire-Fence header of a release names the token to release rather than
// a condition on the write.
func WithoutFences(ctx context.Context) context.Context {
	if FencesFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, fencesKey{}, []Fence(nil))
}

// FenceHeader formats fences as a Quire-Fence header value.
func FenceHeader(fs ...Fence) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Lock)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(f.Token, 10))
	}
	return b.String()
}
