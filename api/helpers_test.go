package api_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"linli/internal/testutil"
)

// tokenPair is the data of a login or refresh answer.
type tokenPair struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int64  `json:"expiresIn"`
	User         *struct {
		ID int64 `json:"id"`
	} `json:"user"`
}

func decodeTokens(t testing.TB, res *testutil.Response) tokenPair {
	t.Helper()
	var p tokenPair
	res.Decode(t, &p)
	if p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("no tokens in %s", res.Raw)
	}
	return p
}

// meView is the data of GET /me.
type meView struct {
	ID              int64  `json:"id"`
	Nickname        string `json:"nickname"`
	AvatarURL       string `json:"avatarUrl"`
	Phone           string `json:"phone"`
	HomeCommunityID *int64 `json:"homeCommunityId"`
	HomeGridID      *int64 `json:"homeGridId"`
	Roles           []struct {
		Role  string `json:"role"`
		OrgID int64  `json:"orgId"`
	} `json:"roles"`
}

func me(t testing.TB, h *testutil.Harness, token string) meView {
	t.Helper()
	var v meView
	h.Do("GET", "/me", nil, token).Expect(t, 200, 0).Decode(t, &v)
	return v
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the non-empty lines written so far.
func (s *syncBuffer) lines() []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
