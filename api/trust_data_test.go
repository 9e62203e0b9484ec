package api_test

import (
	"testing"

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
