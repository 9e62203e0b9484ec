package main

import (
	"context"
	"fmt"
	"time"

	"linli/model"
)

// Departments per street (职能部门), attached to it; their ids follow the
// grids'.
const (
	DeptsPerStreet = 2
	firstDept      = firstGrid + Communities*GridsPerComm
)

// DeptOf returns the id of department d (0..DeptsPerStreet-1) of street s
// (0..Streets-1).
func DeptOf(s, d int) int64 { return int64(firstDept + s*DeptsPerStreet + d) }

// CaseStreet is the street (index) every case of the data set is reported
// in: the benchmark lists one street with all of them.
const CaseStreet = 0

// caseStatus spreads the cases over their states: 10 % each submitted,
// accepted, in progress, whistled and dispatched, 5 % reported in, 5 %
// resolved awaiting the rating, 40 % closed with a rating.
func caseStatus(j int64) model.CaseStatus {
	switch r := j % 20; {
	case r < 2:
		return model.CaseSubmitted
	case r < 4:
		return model.CaseAccepted
	case r < 6:
		return model.CaseInProgress
	case r < 8:
		return model.CaseWhistled
	case r < 10:
		return model.CaseDispatched
	case r == 10:
		return model.CaseReportedIn
	case r == 11:
		return model.CaseResolved
	default:
		return model.CaseClosed
	}
}

// cases writes the departments (two per street, a dept_staff each: the
// street's first community's staff user) and g.sc.Cases cases in the
// communities of street CaseStreet with their timeline events and
// dispatch rows, as the services would have written them. Open steps are
// due in the future, so the sweep has nothing to do.
func (g *gen) cases(ctx context.Context) error {
	orgs := g.table("org_units", "id", "parent_id", "level", "name", "path", "created_at")
	staff := g.table("dept_staff", "dept_id", "user_id", "created_by", "created_at")
	for s := 0; s < Streets; s++ {
		sid := int64(firstStreet + s)
		for d := 0; d < DeptsPerStreet; d++ {
			id := DeptOf(s, d)
			if err := orgs.add(ctx, id, sid, model.LevelDepartment, fmt.Sprintf("第%d街道部门%d", s+1, d+1),
				fmt.Sprintf("/%d/%d/%d/", DistrictID, sid, id), g.hours(-24*400)); err != nil {
				return err
			}
			if err := staff.add(ctx, id, StaffOf(s*(Communities/Streets)), 1, g.hours(-24*400)); err != nil {
				return err
			}
		}
	}
	if err := flushAll(ctx, orgs, staff); err != nil {
		return err
	}
	cs := g.table("cases", "id", "community_id", "street_id", "district_id", "community_path", "category", "content",
		"images", "lat", "lng", "address", "reporter_id", "status", "level", "whistle_org_id", "step", "step_deadline",
		"dispatch_round", "lead_dept_id", "accepted_at", "resolved_at", "resolved_by", "resolved_from", "resolved_dept",
		"resolve_note", "rating", "closed_at", "created_at", "updated_at")
	evs := g.table("case_events", "case_id", "community_id", "street_id", "district_id", "dept_id", "actor_id",
		"actor_role", "action", "step", "from_status", "to_status", "on_time", "rating", "note", "created_at")
	depts := g.table("case_depts", "case_id", "round", "dept_id", "lead", "status", "reported_in_at", "created_at")
	cats := []string{"环境卫生", "市容秩序", "公共设施", "安全隐患", "邻里纠纷", "物业问题", "其他"}
	perCommunity := int64(g.sc.Users / Communities)
	for j := int64(1); j <= int64(g.sc.Cases); j++ {
		k := CaseStreet*(Communities/Streets) + int(j%(Communities/Streets))
		cid, sid := CommunityID(k), StreetOf(k)
		// A resident of community k who is not its staff: user k+1+100m.
		reporter := int64(k+1) + Communities*(1+int64(mix(uint64(j))%uint64(max(perCommunity-2, 1))))
		st := caseStatus(j)
		h := mix(uint64(j) + 11)
		created := g.hours(-int(h%(24*300)) - 48)
		lat, lng := 31.2+float64(h%2000)/100000, 121.4+float64((h>>16)%2000)/100000
		staffID := StaffOf(k)
		lead := DeptOf(CaseStreet, int(j%DeptsPerStreet))
		c := map[string]any{"level": model.CaseLevelCommunity, "whistle": 0, "step": "", "deadline": nil, "round": 0,
			"lead": nil, "accepted": nil, "resolved": nil, "by": nil, "from": "", "rdept": nil, "note": "", "rating": nil, "closed": nil}
		type ev struct {
			dept            any
			actor           any
			role, act, step string
			from, to        model.CaseStatus
			onTime, rating  any
			at              int // hours after created
		}
		list := []ev{{nil, reporter, "reporter", "create", "", "", model.CaseSubmitted, nil, nil, 0}}
		future := g.hours(24)
		switch st {
		case model.CaseSubmitted:
			c["step"], c["deadline"] = model.StepAccept, future
		case model.CaseAccepted, model.CaseInProgress:
			c["step"], c["deadline"], c["accepted"] = model.StepResolve, future, created.Add(time.Hour)
			list = append(list, ev{nil, staffID, "staff", "accept", model.StepAccept, model.CaseSubmitted, model.CaseAccepted, h%10 != 0, nil, 1})
		case model.CaseWhistled:
			c["level"], c["whistle"], c["step"], c["deadline"] = model.CaseLevelStreet, sid, model.StepDispatch, future
			list = append(list, ev{nil, staffID, "staff", "whistle", model.StepAccept, model.CaseSubmitted, model.CaseWhistled, true, nil, 1})
		case model.CaseDispatched, model.CaseReportedIn:
			c["level"], c["whistle"], c["round"], c["lead"] = model.CaseLevelStreet, sid, 1, lead
			c["step"], c["deadline"] = model.StepReportIn, future
			list = append(list, ev{nil, staffID, "staff", "whistle", model.StepAccept, model.CaseSubmitted, model.CaseWhistled, true, nil, 1},
				ev{lead, int64(1), "officer", "dispatch", model.StepDispatch, model.CaseWhistled, model.CaseDispatched, true, nil, 3})
			dstatus, reported := model.DeptDispatched, any(nil)
			if st == model.CaseReportedIn {
				c["step"] = model.StepDeptResolve
				dstatus, reported = model.DeptReportedIn, created.Add(5*time.Hour)
				list = append(list, ev{lead, StaffOf(0), "department", "report_in", model.StepReportIn, model.CaseDispatched, model.CaseReportedIn, h%7 != 0, nil, 5})
			}
			if err := depts.add(ctx, j, 1, lead, true, dstatus, reported, created.Add(3*time.Hour)); err != nil {
				return err
			}
		case model.CaseResolved, model.CaseClosed:
			c["accepted"], c["resolved"], c["by"], c["from"], c["note"] = created.Add(time.Hour), created.Add(30*time.Hour), staffID, model.CaseInProgress, "已处理"
			list = append(list, ev{nil, staffID, "staff", "accept", model.StepAccept, model.CaseSubmitted, model.CaseAccepted, h%10 != 0, nil, 1},
				ev{nil, staffID, "staff", "resolve", model.StepResolve, model.CaseAccepted, model.CaseResolved, h%5 != 0, nil, 30})
			if st == model.CaseClosed {
				r := int64(1 + h%5)
				c["rating"], c["closed"] = r, created.Add(40*time.Hour)
				list = append(list, ev{nil, reporter, "reporter", "rate", "", model.CaseResolved, model.CaseClosed, nil, r, 40})
			}
		}
		if err := cs.add(ctx, j, cid, sid, DistrictID, fmt.Sprintf("/%d/%d/%d/", DistrictID, sid, cid), cats[h%uint64(len(cats))],
			"小区里的问题需要处理", "", lat, lng, "幸福路 8 号", reporter, st, c["level"], c["whistle"], c["step"], c["deadline"],
			c["round"], c["lead"], c["accepted"], c["resolved"], c["by"], c["from"], c["rdept"], c["note"], c["rating"],
			c["closed"], created, created); err != nil {
			return err
		}
		for _, e := range list {
			if err := evs.add(ctx, j, cid, sid, DistrictID, e.dept, e.actor, e.role, e.act, e.step, e.from, e.to,
				e.onTime, e.rating, "", created.Add(time.Duration(e.at)*time.Hour)); err != nil {
				return err
			}
		}
	}
	return flushAll(ctx, cs, evs, depts)
}
