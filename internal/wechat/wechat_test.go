package wechat

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactDropsQueryStrings(t *testing.T) {
	for _, in := range []string{
		`Get "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=APPSECRET&js_code=CODE&grant_type=authorization_code": EOF`,
		`http get error : uri=https://api.weixin.qq.com/wxa/business/getuserphonenumber?access_token=ACCESSTOKEN , statusCode=502`,
		"Post \"http://127.0.0.1:1/x?access_token=ACCESSTOKEN\"\nconnection refused",
	} {
		got := redact("api", errors.New(in)).Error()
		for _, secret := range []string{"APPSECRET", "CODE", "ACCESSTOKEN"} {
			if strings.Contains(got, secret) {
				t.Errorf("redact(%q) = %q still holds %s", in, got, secret)
			}
		}
		if !strings.Contains(got, "?…") || !strings.HasPrefix(got, "wechat api: ") {
			t.Errorf("redact(%q) = %q", in, got)
		}
	}
	if got := stripQueries("no url here"); got != "no url here" {
		t.Errorf("stripQueries changed plain text: %q", got)
	}
	if redact("api", nil) != nil {
		t.Error("redact(nil) != nil")
	}
}

func TestQRCodeError(t *testing.T) {
	var we *Error
	err := qrcodeError(errors.New("fetchCode error : errcode=40001 , errmsg=invalid credential"))
	if !errors.As(err, &we) || we.Code != 40001 || we.Msg != "invalid credential" {
		t.Fatalf("errcode not parsed: %#v", err)
	}
	err = qrcodeError(errors.New(`Post "https://api.weixin.qq.com/wxa/getwxacodeunlimit?access_token=SECRET": dial tcp: refused`))
	if errors.As(err, &we) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("network error: %v", err)
	}
	if qrcodeError(nil) != nil {
		t.Fatal("qrcodeError(nil) != nil")
	}
}
