package api_test

import (
	"fmt"
	"testing"

	"linli/model"
)

// TestRiskyUserTextsRefused: every user text others see passes the content
// check; a risky one (the fake WeChat says so for RISKY) is 422 10008 and
// writes nothing: nickname, unit name, need, resource, service note,
// fulfilment note, wish comment, case rating.
func TestRiskyUserTextsRefused(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	u := e.login("nick")
	h.Do("PUT", "/me", map[string]string{"nickname": "老张"}, u.token).Expect(t, 200, 0)
	liaison := e.login("liaison")
	unit := h.MustUnitLiaison(liaison.id, e.tree.CommunityA.ID)
	member := e.user(e.w.Member("member", e.tree.CommunityA.ID))
	h.MustUnitLiaison(member.id, e.tree.CommunityA.ID)
	poster := e.login("poster")
	var w struct{ ID int64 }
	h.Do("POST", "/wishes", wishBody("修水管"), poster.token).Expect(t, 201, 0).Decode(t, &w)
	h.Do("POST", fmt.Sprintf("/wishes/%d/approve", w.ID), nil, e.staff()).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/wishes/%d/claim", w.ID), nil, member.token).Expect(t, 200, 0)

	cases := []struct {
		name, method, path, token string
		body                      any
	}{
		{"nickname", "PUT", "/me", u.token, map[string]string{"nickname": "RISKY 昵称"}},
		{"unit name", "POST", "/units", u.token, map[string]any{"name": "RISKY 单位", "kind": "国企", "partyOrg": "党委",
			"communityId": e.tree.CommunityA.ID, "contactName": "王五", "contactPhone": "13900001111"}},
		{"need", "POST", "/needs", e.staff(), map[string]any{"communityId": e.tree.CommunityA.ID, "title": "线路检修", "content": "RISKY 内容"}},
		{"resource", "POST", "/resources", liaison.token, map[string]any{"unitId": unit.ID, "title": "RISKY 资源"}},
		{"service note", "POST", "/services", member.token, map[string]any{"kind": "contact_help", "minutes": 30, "note": "RISKY 说明", "occurredOn": e.day(0)}},
		{"fulfil note", "POST", fmt.Sprintf("/wishes/%d/fulfil", w.ID), member.token, map[string]any{"note": "RISKY 完成"}},
	}
	for _, c := range cases {
		rows := h.Rows()
		h.Do(c.method, c.path, c.body, c.token).Expect(t, 422, 10008)
		rows.WroteNothing(t, c.name)
	}
	var me model.User
	h.DB.First(&me, u.id)
	if me.Nickname != "老张" {
		t.Fatalf("nickname changed to %q", me.Nickname)
	}
	var wish model.Wish
	h.DB.First(&wish, w.ID)
	if wish.Status != model.WishClaimed || wish.FulfilNote != "" {
		t.Fatalf("wish after a risky fulfilment: %s %q", wish.Status, wish.FulfilNote)
	}
	// The comment of the confirmation, too.
	h.Do("POST", fmt.Sprintf("/wishes/%d/fulfil", w.ID), map[string]any{"note": "已修好"}, member.token).Expect(t, 200, 0)
	rows := h.Rows()
	h.Do("POST", fmt.Sprintf("/wishes/%d/confirm", w.ID), map[string]any{"rating": 5, "comment": "RISKY 评价"}, poster.token).Expect(t, 422, 10008)
	rows.WroteNothing(t, "wish comment")
}

// TestUserTextFlaggedWhenCheckerDown: with the checker unreachable (WXDOWN)
// or asking for review (REVIEW) the text is stored and flagged for staff of
// the community, listed in the review queue until cleared.
func TestUserTextFlaggedWhenCheckerDown(t *testing.T) {
	e := newRecordEnv(t)
	h := e.h
	u := e.login("flagged")
	h.Do("PUT", "/me", map[string]string{"nickname": "WXDOWN 小王"}, u.token).Expect(t, 200, 0)
	var me model.User
	h.DB.First(&me, u.id)
	if me.Nickname != "WXDOWN 小王" {
		t.Fatalf("nickname = %q", me.Nickname)
	}
	var need struct{ ID int64 }
	h.Do("POST", "/needs", map[string]any{"communityId": e.tree.CommunityA.ID, "title": "请 REVIEW 一下"}, e.staff()).
		Expect(t, 201, 0).Decode(t, &need)
	var flags []model.ContentFlag
	h.DB.Where("(object_kind = ? AND object_id = ?) OR (object_kind = ? AND object_id = ?)", "user", u.id, "need", need.ID).
		Order("id").Find(&flags)
	if len(flags) != 2 || flags[0].Flag != model.WishFlagCheckUnavailable || flags[0].Field != "nickname" ||
		flags[0].CommunityID != e.tree.CommunityA.ID || flags[1].Flag != model.WishFlagContentReview {
		t.Fatalf("flags: %+v", flags)
	}
	var q struct {
		Counts map[string]int64
		List   []struct {
			Kind  string
			ID    int64
			Title string
		}
	}
	tok := e.staff()
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=content_flag", e.tree.CommunityA.ID), nil, tok).Expect(t, 200, 0).Decode(t, &q)
	if q.Counts["content_flag"] != 2 || len(q.List) != 2 || q.List[0].ID != flags[0].ID {
		t.Fatalf("queue: %+v", q)
	}
	h.Do("POST", fmt.Sprintf("/admin/content-flags/%d/clear", flags[0].ID), nil, u.token).Expect(t, 403, 10004)
	h.Do("POST", fmt.Sprintf("/admin/content-flags/%d/clear", flags[0].ID), nil, tok).Expect(t, 200, 0)
	h.Do("POST", fmt.Sprintf("/admin/content-flags/%d/clear", flags[0].ID), nil, tok).Expect(t, 409, 10006)
	h.Do("GET", fmt.Sprintf("/admin/queue?orgId=%d&kind=content_flag", e.tree.CommunityA.ID), nil, tok).Expect(t, 200, 0).Decode(t, &q)
	if q.Counts["content_flag"] != 1 {
		t.Fatalf("queue after clearing: %+v", q)
	}
}
