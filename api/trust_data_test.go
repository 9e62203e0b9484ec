package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"linli/internal/testutil"
	"linli/model"
)

// TestDisplayTextRefusesHiddenCharacters: a nickname or any other display
// text carrying NUL, a bidi override or isolate, a zero-width run or a BOM
// is 400 10001 and nothing is written; an emoji joined by U+200D is fine.
func TestDisplayTextRefusesHiddenCharacters(t *testing.T) {
	w := newWishWorld(t, testutil.WithConfig(map[string]any{"ratelimit.wish_create_per_minute": 0}))
	bad := map[string]string{
		"nul":          "张\u0000三",
		"rlo":          "张三\u202egnp.exe",
		"lri":          "\u2066张三\u2069",
		"zero-width":   "张\u200b\u200b\u200b三",
		"rlm":          "张\u200f三",
		"bom":          "\ufeff张三",
		"bell":         "张\a三",
		"lone-zwj":     "张\u200d三",
		"line-sep":     "张\u2028三",
		"soft-hyphen":  "张\u00ad三",
		"invisible-op": "张\u2062三",
	}
	for name, text := range bad {
		t.Run(name, func(t *testing.T) {
			rows := w.h.Rows()
			w.h.Do("PUT", "/me", map[string]any{"nickname": text}, w.citizen.AccessToken).Expect(t, 400, 10001)
			var u model.User
			w.h.DB.First(&u, w.citizen.UserID)
			if u.Nickname == text {
				t.Fatalf("nickname %q was stored", text)
			}
			body := wishBody(text)
			w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 400, 10001)
			body = wishBody("修水管")
			body["content"] = "家里水管漏水" + text
			w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 400, 10001)
			rows.WroteNothing(t, "a wish with "+name)
		})
	}
	for _, good := range []string{"👨\u200d👩\u200d👧", "❤\ufe0f\u200d🔥 小王", "李四"} {
		w.h.Do("PUT", "/me", map[string]any{"nickname": good}, w.citizen.AccessToken).Expect(t, 200, 0)
	}
	body := wishBody("修水管")
	body["content"] = "家里水管漏水，\n需要帮忙修理\t谢谢"
	w.h.Do("POST", "/wishes", body, w.poster.AccessToken).Expect(t, 201, 0)
}

// TestWishContactHarvestByClaimRelease: a claimer is shown the poster's
// phone and address in their first claim of a wish only, every showing is
// recorded for staff, and after wish.release_limit claims given back a
// further claim is 409 20007 and writes nothing.
func TestWishContactHarvestByClaimRelease(t *testing.T) {
	w := newWishWorld(t)
	id := w.published(t, "修水管")
	path := fmt.Sprintf("/wishes/%d", id)

	v := decodeWish(t, w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0))
	if v.Contact == nil || v.Contact.Phone != wishPhone {
		t.Fatalf("first claim: contact %+v, want the poster's", v.Contact)
	}
	w.h.Do("GET", path, nil, w.member.AccessToken).Expect(t, 200, 0) // seen again in the same claim: one record
	for cycle := 2; cycle <= 3; cycle++ {
		w.act(t, w.member.AccessToken, id, "release", nil, 200, 0)
		r := w.act(t, w.member.AccessToken, id, "claim", nil, 200, 0)
		for _, r := range []*testutil.Response{r, w.h.Do("GET", path, nil, w.member.AccessToken).Expect(t, 200, 0),
			w.h.Do("GET", "/wishes/claimed", nil, w.member.AccessToken).Expect(t, 200, 0)} {
			if strings.Contains(string(r.Raw), wishPhone) || strings.Contains(string(r.Raw), wishAddress) {
				t.Fatalf("claim %d shows the contact again: %s", cycle, r.Raw)
			}
		}
	}
	w.act(t, w.member.AccessToken, id, "release", nil, 200, 0)

	// Three claims given back: the fourth claim is refused and writes nothing.
	rows := w.h.Rows()
	w.act(t, w.member.AccessToken, id, "claim", nil, 409, 20007)
	rows.WroteNothing(t, "a claim over the release limit")

	// Another claimer sees the contact in their first claim.
	v = decodeWish(t, w.act(t, w.member2.AccessToken, id, "claim", nil, 200, 0))
	if v.Contact == nil || v.Contact.Address != wishAddress {
		t.Fatalf("a new claimer: contact %+v", v.Contact)
	}

	// Staff read who was shown it; nobody else may.
	var got struct {
		List []struct {
			UserID, ClaimID int64
			RevealedAt      time.Time
		}
	}
	w.h.Do("GET", path+"/contact-reveals", nil, w.staff.AccessToken).Expect(t, 200, 0).Decode(t, &got)
	if len(got.List) != 2 || got.List[0].UserID != w.member.UserID || got.List[1].UserID != w.member2.UserID ||
		got.List[0].RevealedAt.IsZero() || got.List[0].ClaimID == 0 {
		t.Fatalf("reveals = %+v, want member then member2", got.List)
	}
	for _, l := range []testutil.Login{w.member, w.member2, w.poster, w.otherStaff} {
		w.h.Do("GET", path+"/contact-reveals", nil, l.AccessToken).Expect(t, 403, 10004)
	}
}
