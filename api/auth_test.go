package api_test

import (
	"testing"

	"linli/internal/testutil"
)

func TestWeChatLoginThenMe(t *testing.T) {
	h := testutil.New(t)
	openid := testutil.UniqueOpenID("smoke")
	login := h.MustLogin(openid)
	res := h.Do("GET", "/me", nil, login.AccessToken).Expect(t, 200, 0)
	var me struct{ ID int64 }
	res.Decode(t, &me)
	if me.ID != login.UserID {
		t.Fatalf("me.id = %d, want %d", me.ID, login.UserID)
	}
}
