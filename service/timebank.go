package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"linli/internal/ledger"
	"linli/model"
)

// Domain codes of the time bank and the mall (3xxxx). They are never
// renumbered; api/envelope.go maps the ones that are not 409.
const (
	CodeInsufficientBalance = 30001 // 余额不足
	CodeGiftDailyLimit      = 30002 // 今日转赠已达上限
	CodeRequestIDReused     = 30003 // 请求号已用于另一笔不同的补录、转赠或兑换
	CodeNoHomeCommunity     = 30004 // 尚未设置所在社区
	CodeGoodsOffSale        = 30005 // 商品已下架
	CodeOutOfStock          = 30006 // 库存不足
	CodePerUserLimit        = 30007 // 超出每人限兑数量
	CodeGoodsOtherCommunity = 30008 // 只能兑换本社区的商品 (403)
	CodeOrderNotOpen        = 30009 // 订单已取消或已过期
	CodeOrderPicked         = 30010 // 订单已核销
	CodePickupCodeInvalid   = 30011 // 核销码无效 (404)
	CodeSelfAction          = 30012 // 不能给自己记账、转赠或审批 (403)
	CodeManualCreditTooBig  = 30013 // 单笔补录超过上限
	CodeManualCreditMonthly = 30014 // 本社区本月补录已达上限
	CodeRecipientOutside    = 30015 // 受益人不在本社区居住或服务 (403)
)

// selfAction is the 30012 refusal of an actor crediting, giving to or
// approving for themselves; what names the action.
func selfAction(what string) *Error {
	return Errorf(CodeSelfAction, "不能%s，请由其他工作人员办理", what)
}

// MaxAmount is the largest amount of minutes or points one gift or manual
// credit may move; larger values are refused as invalid input.
const MaxAmount = 1_000_000

// Ledger source kinds written by this area. Other areas choose their own
// (e.g. "wish", "attendance").
const (
	SourceGift         = "gift"
	SourceManualCredit = "manual_credit"
	SourceMallOrder    = "mall_order"
	SourceMallRefund   = "mall_refund"
)

// TimeBankService keeps minutes and points. Other areas pay through Credit
// (and Debit, Reverse) inside their own transaction; residents see their
// account, ledger and leaderboards and give to each other; staff credit by
// hand; admins reconcile.
type TimeBankService struct {
	deps   Deps
	authz  *Authz
	ledger *ledger.Ledger
	boards *leaderboards
	notify *NotificationService
}

func newTimeBankService(d Deps, authz *Authz, boards *leaderboards, notify *NotificationService) *TimeBankService {
	return &TimeBankService{deps: d, authz: authz, ledger: ledger.NewWithClock(d.Clock.Now), boards: boards, notify: notify}
}

// Credit issues minutes or points from a community to a user inside tx, once
// per source: a replay returns the first receipt (Replayed set) and writes
// nothing. Once tx commits, the user's leaderboards move (when tx was opened
// by Deps.tx; otherwise at once). It returns 10001 for a non-positive amount.
func (s *TimeBankService) Credit(ctx context.Context, tx *gorm.DB, c ledger.Credit) (*ledger.Receipt, error) {
	rec, err := s.ledger.Credit(ctx, tx, c)
	if err != nil {
		return nil, ledgerError(err)
	}
	return rec, s.credited(ctx, tx, c, rec)
}

// CreditAll is Credit for several credits inside tx, posted together
// (ledger.CreditAll: four statements for all of them when their accounts
// are locked); it returns their receipts in order, and 10001 for a
// non-positive amount.
func (s *TimeBankService) CreditAll(ctx context.Context, tx *gorm.DB, cs []ledger.Credit) ([]*ledger.Receipt, error) {
	recs, err := s.ledger.CreditAll(ctx, tx, cs)
	if err != nil {
		return nil, ledgerError(err)
	}
	for i, rec := range recs {
		if err := s.credited(ctx, tx, cs[i], rec); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// credited counts a credit posted (not replayed) in its community's day
// figures and moves the user's leaderboards after commit. It returns the
// database's error.
func (s *TimeBankService) credited(ctx context.Context, tx *gorm.DB, c ledger.Credit, rec *ledger.Receipt) error {
	if rec.Replayed {
		return nil
	}
	at := s.postedAt(rec)
	m, i, r := issuedStats(ledger.KindCredit, c.Currency, c.Amount)
	if err := s.deps.addDayStats(tx, c.CommunityID, at, m, i, r); err != nil {
		return err
	}
	s.bumpAfterCommit(ctx, tx, boardBump{c.UserID, c.Currency, c.Amount, at})
	return nil
}

// lockCreditAccounts creates where missing and locks, inside tx, the
// accounts that credits from the community to the users touch: minutes, and
// points when withPoints. Credits given the result (ledger.Credit.Locked)
// read and lock none of them again.
func (s *TimeBankService) lockCreditAccounts(ctx context.Context, tx *gorm.DB, communityID int64, withPoints bool, users []int64) (*ledger.Accounts, error) {
	currencies := []model.Currency{model.CurrencyMinutes}
	if withPoints {
		currencies = append(currencies, model.CurrencyPoints)
	}
	keys := make([]ledger.AccountKey, 0, (len(users)+1)*len(currencies))
	for _, c := range currencies {
		keys = append(keys, ledger.AccountKey{Owner: model.OwnerCommunity, OwnerID: communityID, Currency: c})
		for _, u := range users {
			keys = append(keys, ledger.AccountKey{Owner: model.OwnerUser, OwnerID: u, Currency: c})
		}
	}
	return s.ledger.Lock(ctx, tx, keys...)
}

// Debit moves minutes or points from a user to a community inside tx, once
// per source. It returns 30001 when the balance is short and 10001 for a
// non-positive amount.
func (s *TimeBankService) Debit(ctx context.Context, tx *gorm.DB, d ledger.Debit) (*ledger.Receipt, error) {
	rec, err := s.ledger.Debit(ctx, tx, d)
	if err != nil {
		return nil, ledgerError(err)
	}
	if !rec.Replayed {
		m, i, r := issuedStats(ledger.KindDebit, d.Currency, d.Amount)
		if err := s.deps.addDayStats(tx, d.CommunityID, s.postedAt(rec), m, i, r); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// Reverse undoes ledger transaction txnID under source src, once. Reversing
// a credit lowers the user's leaderboards after commit. It returns 30001 when
// a user no longer holds what is taken back, 10006 when another source
// already reversed it and 10005 for an unknown transaction.
func (s *TimeBankService) Reverse(ctx context.Context, tx *gorm.DB, txnID int64, src ledger.Source, memo string) (*ledger.Receipt, error) {
	rec, err := s.ledger.Reverse(ctx, tx, txnID, src, memo)
	if err != nil {
		return nil, ledgerError(err)
	}
	if !rec.Replayed {
		if err := s.afterReversal(ctx, tx, txnID, rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// afterReversal takes the reversed figure off the community's day stats
// and schedules the leaderboard change of a reversed credit.
func (s *TimeBankService) afterReversal(ctx context.Context, tx *gorm.DB, origID int64, rec *ledger.Receipt) error {
	var orig model.LedgerTxn
	if err := tx.Select("id", "kind").First(&orig, origID).Error; err != nil {
		return err
	}
	ids := make([]int64, 0, len(rec.Entries))
	for _, e := range rec.Entries {
		ids = append(ids, e.AccountID)
	}
	var all []model.Account
	if err := tx.Where("id IN ?", ids).Find(&all).Error; err != nil {
		return err
	}
	at := s.postedAt(rec)
	var accounts []model.Account
	for _, a := range all {
		if a.OwnerKind == model.OwnerUser {
			accounts = append(accounts, a)
			continue
		}
		// The community's leg has the opposite sign of the original's: a
		// reversed credit gives back (+), a refunded debit pays out (−).
		for _, e := range rec.Entries {
			if e.AccountID != a.ID {
				continue
			}
			amount := e.Amount
			if orig.Kind == ledger.KindCredit {
				amount = -amount
			}
			m, i, r := issuedStats(orig.Kind, e.Currency, amount)
			if err := s.deps.addDayStats(tx, a.OwnerID, at, m, i, r); err != nil {
				return err
			}
		}
	}
	if orig.Kind != ledger.KindCredit {
		return nil
	}
	for _, a := range accounts {
		for _, e := range rec.Entries {
			if e.AccountID == a.ID {
				s.bumpAfterCommit(ctx, tx, boardBump{a.OwnerID, e.Currency, e.Amount, at})
			}
		}
	}
	return nil
}

// bumpAfterCommit moves a user's leaderboards once tx commits: all the
// moves of one transaction together (bumpAll).
func (s *TimeBankService) bumpAfterCommit(ctx context.Context, tx *gorm.DB, b boardBump) {
	afterCommitBatch(tx, "leaderboards", b, func(bs []boardBump) { s.boards.bumpAll(context.WithoutCancel(ctx), bs) })
}

// postedAt is when a receipt's entries were written.
func (s *TimeBankService) postedAt(rec *ledger.Receipt) time.Time {
	if len(rec.Entries) > 0 {
		return rec.Entries[0].CreatedAt
	}
	return s.deps.Clock.Now()
}

// ledgerError maps the ledger's errors to client errors.
func ledgerError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrInsufficientBalance):
		return Wrap(CodeInsufficientBalance, "余额不足", err)
	case errors.Is(err, ledger.ErrInvalidAmount):
		return Wrap(CodeInvalid, "数量必须为正整数", err)
	case errors.Is(err, ledger.ErrSameAccount):
		return Wrap(CodeInvalid, "不能转给自己", err)
	case errors.Is(err, ledger.ErrTxnNotFound):
		return Wrap(CodeNotFound, "账目不存在", err)
	case errors.Is(err, ledger.ErrAlreadyReversed):
		return Wrap(CodeConflict, "该笔账目已冲正", err)
	}
	return err
}

// parseCurrency returns c as a currency or 10001.
func parseCurrency(c string) (model.Currency, error) {
	cur := model.Currency(c)
	if !cur.Valid() {
		return "", invalid("币种需为 minutes 或 points")
	}
	return cur, nil
}

// checkAmount returns 10001 unless 1 ≤ amount ≤ MaxAmount.
func checkAmount(amount int64) error {
	if amount <= 0 || amount > MaxAmount {
		return invalid("数量需为 1 到 %d 之间的整数", MaxAmount)
	}
	return nil
}

// AccountView is the caller's time bank: balances, what they earned, and
// their star rating. NextStarMinutes is the earned minutes the next star
// needs and ToNextStarMinutes how many are missing (both null at the top).
type AccountView struct {
	Minutes           int64  `json:"minutes"`
	Points            int64  `json:"points"`
	EarnedMinutes     int64  `json:"earnedMinutes"`
	EarnedPoints      int64  `json:"earnedPoints"`
	Stars             int    `json:"stars"`
	MaxStars          int    `json:"maxStars"`
	NextStarMinutes   *int64 `json:"nextStarMinutes"`
	ToNextStarMinutes *int64 `json:"toNextStarMinutes"`
}

// Stars returns the star rating of earnedMinutes under the configured
// thresholds (timebank.star_hours), and the threshold of the next star in
// minutes (0 when the rating is the highest).
func (s *TimeBankService) Stars(earnedMinutes int64) (stars int, next int64) {
	for _, t := range s.deps.Config.TimeBank.StarMinutes {
		if earnedMinutes < t {
			return stars, t
		}
		stars++
	}
	return stars, 0
}

// Account returns the caller's balances, earned totals and stars. Accounts
// never used read as zero.
func (s *TimeBankService) Account(ctx context.Context, userID int64) (*AccountView, error) {
	db := s.deps.DB.WithContext(ctx)
	var accounts []model.Account
	if err := db.Where("owner_kind = ? AND owner_id = ?", model.OwnerUser, userID).Find(&accounts).Error; err != nil {
		return nil, err
	}
	v := &AccountView{MaxStars: len(s.deps.Config.TimeBank.StarMinutes)}
	for _, a := range accounts {
		switch a.Currency {
		case model.CurrencyMinutes:
			v.Minutes, v.EarnedMinutes = a.Balance, a.Earned
		case model.CurrencyPoints:
			v.Points, v.EarnedPoints = a.Balance, a.Earned
		}
	}
	var next int64
	v.Stars, next = s.Stars(v.EarnedMinutes)
	if next > 0 {
		missing := next - v.EarnedMinutes
		v.NextStarMinutes, v.ToNextStarMinutes = &next, &missing
	}
	return v, nil
}

// LedgerEntryView is one line of the caller's ledger. Kind is the
// transaction's kind (credit, debit, transfer, reversal); the counterparty is
// the other side (a community for credits and debits, a user for gifts).
type LedgerEntryView struct {
	ID               int64          `json:"id"`
	TxnID            int64          `json:"txnId"`
	Kind             string         `json:"kind"`
	Currency         model.Currency `json:"currency"`
	Amount           int64          `json:"amount"`
	SourceKind       string         `json:"sourceKind"`
	SourceID         string         `json:"sourceId"`
	Memo             string         `json:"memo"`
	CounterpartyKind string         `json:"counterpartyKind,omitempty"`
	CounterpartyID   int64          `json:"counterpartyId,omitempty"`
	CreatedAt        time.Time      `json:"createdAt"`
}

// Ledger lists the caller's entries, newest first, in one currency or (when
// currency is empty) both. It returns 10001 for an unknown currency.
func (s *TimeBankService) Ledger(ctx context.Context, userID int64, currency string, p Page) (List[LedgerEntryView], error) {
	db := s.deps.DB.WithContext(ctx)
	q := db.Model(&model.Account{}).Where("owner_kind = ? AND owner_id = ?", model.OwnerUser, userID)
	if currency != "" {
		cur, err := parseCurrency(currency)
		if err != nil {
			return List[LedgerEntryView]{}, err
		}
		q = q.Where("currency = ?", cur)
	}
	var accountIDs []int64
	if err := q.Pluck("id", &accountIDs).Error; err != nil {
		return List[LedgerEntryView]{}, err
	}
	if len(accountIDs) == 0 {
		return NewList[LedgerEntryView](nil, 0, p), nil
	}
	entries := db.Model(&model.LedgerEntry{}).Where("account_id IN ?", accountIDs)
	rows, total, err := findPage[model.LedgerEntry](entries, "id DESC", p)
	if err != nil {
		return List[LedgerEntryView]{}, err
	}
	if len(rows) == 0 {
		return NewList[LedgerEntryView](nil, total, p), nil
	}
	txnIDs := make([]int64, 0, len(rows))
	for _, r := range rows {
		txnIDs = append(txnIDs, r.TxnID)
	}
	var txns []model.LedgerTxn
	if err := db.Select("id", "kind").Where("id IN ?", txnIDs).Find(&txns).Error; err != nil {
		return List[LedgerEntryView]{}, err
	}
	kinds := make(map[int64]string, len(txns))
	for _, t := range txns {
		kinds[t.ID] = t.Kind
	}
	var others []struct {
		TxnID     int64
		OwnerKind string
		OwnerID   int64
	}
	err = db.Table("ledger_entries e").Select("e.txn_id, a.owner_kind, a.owner_id").
		Joins("JOIN accounts a ON a.id = e.account_id").
		Where("e.txn_id IN ? AND e.account_id NOT IN ?", txnIDs, accountIDs).Scan(&others).Error
	if err != nil {
		return List[LedgerEntryView]{}, err
	}
	type party struct {
		kind string
		id   int64
	}
	counterparty := make(map[int64]party, len(others))
	for _, o := range others {
		counterparty[o.TxnID] = party{o.OwnerKind, o.OwnerID}
	}
	out := make([]LedgerEntryView, 0, len(rows))
	for _, r := range rows {
		cp := counterparty[r.TxnID]
		out = append(out, LedgerEntryView{
			ID: r.ID, TxnID: r.TxnID, Kind: kinds[r.TxnID], Currency: r.Currency, Amount: r.Amount,
			SourceKind: r.SourceKind, SourceID: r.SourceID, Memo: r.Memo,
			CounterpartyKind: cp.kind, CounterpartyID: cp.id,
			CreatedAt: r.CreatedAt.In(s.deps.Config.Location),
		})
	}
	return NewList(out, total, p), nil
}

// GiftInput is a gift of minutes or points to another user. RequestID,
// when set, makes a retried gift pay once.
type GiftInput struct {
	ToUserID  int64
	Currency  string
	Amount    int64
	Note      string
	RequestID string
}

// GiftView is the result of a gift; Balance is the giver's new balance.
type GiftView struct {
	TxnID    int64          `json:"txnId"`
	ToUserID int64          `json:"toUserId"`
	Currency model.Currency `json:"currency"`
	Amount   int64          `json:"amount"`
	Balance  int64          `json:"balance"`
	Replayed bool           `json:"replayed"`
}

// validRequestID reports whether a client-supplied request id is 1 to 40
// letters, digits or _.:- characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 40 {
		return false
	}
	for _, r := range id {
		ok := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || strings.ContainsRune("_.:-", r)
		if !ok {
			return false
		}
	}
	return true
}

// Gift moves minutes or points from the caller to another user (通存通兑,
// 可转赠); both see it in their ledger. Gifts do not count as earned: they
// change neither stars nor leaderboards. It returns 10001 for a bad
// currency, amount, note or request id, 30012 for a gift to oneself, 10005
// for an unknown recipient, 30001 when the balance is short, 30002 when the
// day's gift limit (timebank.gift_daily_limit_*) would be passed and 30003
// when requestId was used before for a different gift. A repeat with the same
// requestId and content returns the first gift (replayed) and pays nothing.
func (s *TimeBankService) Gift(ctx context.Context, fromID int64, in GiftInput) (*GiftView, error) {
	cur, err := parseCurrency(in.Currency)
	if err != nil {
		return nil, err
	}
	if err := checkAmount(in.Amount); err != nil {
		return nil, err
	}
	if in.ToUserID == fromID {
		return nil, Errorf(CodeSelfAction, "不能转赠给自己")
	}
	note := strings.TrimSpace(in.Note)
	if !textFits(note, 0, 100) {
		return nil, invalid("附言不能超过 100 个字符")
	}
	if in.RequestID != "" && !validRequestID(in.RequestID) {
		return nil, invalid("requestId 需为 1 到 40 个字母、数字或 _.:- 字符")
	}
	srcID := fmt.Sprintf("%d:%s", fromID, in.RequestID)
	if in.RequestID == "" {
		srcID = fmt.Sprintf("%d:%s", fromID, randomHex(12))
	}
	memo := "转赠"
	if note != "" {
		memo = "转赠：" + note
	}
	limit := s.deps.Config.TimeBank.GiftDailyLimitPoints
	if cur == model.CurrencyMinutes {
		limit = s.deps.Config.TimeBank.GiftDailyLimitMinutes
	}
	out := &GiftView{ToUserID: in.ToUserID, Currency: cur}
	err = s.deps.tx(ctx, func(tx *gorm.DB) error {
		if _, err := loadUser(ctx, tx, in.ToUserID); err != nil {
			return err
		}
		rec, err := s.ledger.Transfer(ctx, tx, ledger.Transfer{FromUserID: fromID, ToUserID: in.ToUserID, Currency: cur,
			Amount: in.Amount, Source: ledger.Source{Kind: SourceGift, ID: srcID}, Memo: memo})
		if err != nil {
			return ledgerError(err)
		}
		out.TxnID, out.Replayed = rec.TxnID, rec.Replayed
		var toAccount int64
		for _, e := range rec.Entries {
			if e.Amount < 0 {
				out.Amount = -e.Amount
			} else {
				toAccount = e.AccountID
			}
		}
		if rec.Replayed {
			to, err := s.ledger.Account(ctx, tx, model.OwnerUser, in.ToUserID, cur)
			if err != nil {
				return err
			}
			if to.ID != toAccount || out.Amount != in.Amount {
				return Errorf(CodeRequestIDReused, "该请求号已用于另一笔转赠，请换一个 requestId")
			}
		}
		if !rec.Replayed && limit > 0 {
			day := s.deps.Clock.Now().In(s.deps.Config.Location).Format("20060102")
			if err := s.takeGiftAllowance(ctx, tx, fromID, day, cur, in.Amount, limit); err != nil {
				return err
			}
		}
		if !rec.Replayed {
			err := s.notify.Notify(tx, Notice{UserID: in.ToUserID, Event: EventGiftReceived, ObjectKind: "ledger_txn", ObjectID: rec.TxnID,
				Subject: amountText(cur, in.Amount), Note: note})
			if err != nil {
				return err
			}
		}
		a, err := s.ledger.Account(ctx, tx, model.OwnerUser, fromID, cur)
		out.Balance = a.Balance
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// takeGiftAllowance adds amount to the user's gifts of the day by one
// conditional UPDATE, or returns 30002 when that would pass limit.
func (s *TimeBankService) takeGiftAllowance(ctx context.Context, tx *gorm.DB, userID int64, day string, cur model.Currency, amount, limit int64) error {
	fits, err := addWithinLimit(tx, &model.GiftDailyTotal{UserID: userID, Day: day, Currency: cur}, &model.GiftDailyTotal{},
		map[string]any{"user_id": userID, "day": day, "currency": cur}, amount, limit)
	if err == nil && !fits {
		return Errorf(CodeGiftDailyLimit, "今日转赠已达上限（每日最多 %d）", limit)
	}
	return err
}

// addWithinLimit adds amount to the amount column of a running total: row
// is a new total carrying its unique key (created at 0 when missing), zero a
// zero value of its type, key the key's columns and values. One conditional
// UPDATE keeps the total at most limit. It reports whether the amount fit,
// or the database's error.
func addWithinLimit(tx *gorm.DB, row, zero any, key map[string]any, amount, limit int64) (bool, error) {
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
		return false, err
	}
	res := tx.Model(zero).Where(key).Where("amount + ? <= ?", amount, limit).
		Update("amount", gorm.Expr("amount + ?", amount))
	return res.RowsAffected == 1, res.Error
}

// ManualCreditInput is a credit staff enter by hand. CommunityID names the
// issuing community; zero means the user's home community.
type ManualCreditInput struct {
	UserID      int64
	CommunityID int64
	Currency    string
	Amount      int64
	Reason      string
	RequestID   string
}

// ManualCreditView is a manual credit (or credit request) and its ledger
// transaction. Status is posted, pending, approved or rejected; DecidedBy
// and DecidedAt name who approved or refused a request, and when.
type ManualCreditView struct {
	ID           int64          `json:"id"`
	UserID       int64          `json:"userId"`
	CommunityID  int64          `json:"communityId"`
	Currency     model.Currency `json:"currency"`
	Amount       int64          `json:"amount"`
	Reason       string         `json:"reason"`
	RequestID    string         `json:"requestId"`
	TxnID        int64          `json:"txnId"`
	CreatedBy    int64          `json:"createdBy"`
	CreatedAt    time.Time      `json:"createdAt"`
	Status       string         `json:"status"`
	DecidedBy    *int64         `json:"decidedBy"`
	DecidedAt    *time.Time     `json:"decidedAt"`
	RejectReason string         `json:"rejectReason,omitempty"`
	Replayed     bool           `json:"replayed"`
}

// errManualRace says a concurrent identical manual credit committed first;
// ManualCredit runs again to read it.
var errManualRace = errors.New("manual credit inserted concurrently")

// ManualCredit lets staff of the issuing community credit a user by hand
// (back-entry of paper records). The ManualCredit row it writes is the audit
// record (who, what, when). A credit above
// timebank.manual_credit.approval_above_* is not paid but becomes a pending
// request (see ApproveCreditRequest); every credit and request counts toward
// the community's monthly cap at once. The same actor and request id pay
// once: a retry returns the first credit (or request) with Replayed set. It
// returns 10001 for bad input or an issuer that is not a community, 10005
// for an unknown user or community, 10004 when the caller is not staff of
// the community, 30012 for a credit to oneself, 30004 when no community is
// given and the user has no home community, 30015 when the user neither
// lives in the community nor has an approved service there, 30013 above the
// per-request cap, 30014 when the monthly cap would be passed, and 30003
// when the request id was used before for a different credit.
func (s *TimeBankService) ManualCredit(ctx context.Context, actorID int64, in ManualCreditInput) (*ManualCreditView, error) {
	cur, err := parseCurrency(in.Currency)
	if err != nil {
		return nil, err
	}
	if err := checkAmount(in.Amount); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(in.Reason)
	if !textFits(reason, 1, 200) {
		return nil, invalid("补录原因需为 1 到 200 个字符")
	}
	if !validRequestID(in.RequestID) {
		return nil, invalid("requestId 需为 1 到 40 个字母、数字或 _.:- 字符")
	}
	for attempt := 0; ; attempt++ {
		v, err := s.manualCredit(ctx, actorID, in, cur, reason)
		if errors.Is(err, errManualRace) && attempt < 3 {
			continue
		}
		return v, err
	}
}

func (s *TimeBankService) manualCredit(ctx context.Context, actorID int64, in ManualCreditInput, cur model.Currency, reason string) (*ManualCreditView, error) {
	var row model.ManualCredit
	replayed := false
	err := s.deps.tx(ctx, func(tx *gorm.DB) error {
		// A plain read first: at the start of the transaction it sees every
		// committed row, so a retried request is found here.
		row = model.ManualCredit{}
		if err := tx.Where("actor_id = ? AND request_id = ?", actorID, in.RequestID).Limit(1).Find(&row).Error; err != nil {
			return err
		}
		if row.ID != 0 {
			replayed = true
			return sameManualCredit(&row, in, cur, reason)
		}
		user, err := loadUser(ctx, tx, in.UserID)
		if err != nil {
			return err
		}
		communityID := in.CommunityID
		if communityID == 0 {
			if user.HomeCommunityID == nil {
				return Errorf(CodeNoHomeCommunity, "该用户尚未设置所在社区，请指定发放社区")
			}
			communityID = *user.HomeCommunityID
		}
		org, err := s.authz.RequireStaff(ctx, tx, actorID, communityID)
		if err != nil {
			return err
		}
		if org.Level != model.LevelCommunity {
			return invalid("发放方必须是社区")
		}
		if user.ID == actorID {
			return selfAction("给自己补录时长或积分")
		}
		perRequest, perMonth, approvalAbove := s.deps.Config.TimeBank.ManualCredit.Limits(string(cur))
		if perRequest > 0 && in.Amount > perRequest {
			return Errorf(CodeManualCreditTooBig, "单笔补录最多 %d，请分次办理并说明原因", perRequest)
		}
		if err := s.requireMember(ctx, tx, user, org); err != nil {
			return err
		}
		now := s.deps.Clock.Now()
		if perMonth > 0 {
			month := now.In(s.deps.Config.Location).Format("200601")
			if err := s.takeManualAllowance(ctx, tx, communityID, month, cur, in.Amount, perMonth); err != nil {
				return err
			}
		}
		row = model.ManualCredit{ActorID: actorID, RequestID: in.RequestID, UserID: user.ID, CommunityID: communityID,
			Currency: cur, Amount: in.Amount, Reason: reason, Status: model.ManualCreditPosted, CreatedAt: now}
		if approvalAbove > 0 && in.Amount > approvalAbove {
			row.Status = model.ManualCreditPending
		}
		if err := tx.Create(&row).Error; err != nil {
			if isDuplicate(err) {
				return errManualRace
			}
			return err
		}
		if err := s.deps.audit(ctx, tx, auditEvent{Actor: actorID, Org: communityID, Action: AuditCreditRequest,
			ObjectKind: "credit_request", ObjectID: row.ID, After: map[string]any{"userId": row.UserID,
				"currency": row.Currency, "amount": row.Amount, "status": row.Status}, Reason: reason}); err != nil {
			return err
		}
		if row.Status == model.ManualCreditPending {
			return nil
		}
		return s.postManualCredit(ctx, tx, &row)
	})
	if err != nil {
		return nil, err
	}
	v := s.manualCreditView(&row)
	v.Replayed = replayed
	return &v, nil
}

// postManualCredit pays a posted or approved manual credit inside tx, once
// (the ledger source is manual_credit:<id>), and records the transaction.
func (s *TimeBankService) postManualCredit(ctx context.Context, tx *gorm.DB, row *model.ManualCredit) error {
	rec, err := s.Credit(ctx, tx, ledger.Credit{UserID: row.UserID, CommunityID: row.CommunityID, Currency: row.Currency,
		Amount: row.Amount, Source: ledger.Source{Kind: SourceManualCredit, ID: strconv.FormatInt(row.ID, 10)},
		Memo: "补录：" + row.Reason})
	if err != nil {
		return err
	}
	row.TxnID = rec.TxnID
	if err := tx.Model(&model.ManualCredit{}).Where("id = ?", row.ID).Update("txn_id", rec.TxnID).Error; err != nil {
		return err
	}
	if rec.Replayed {
		return nil
	}
	return s.notify.Notify(tx, Notice{UserID: row.UserID, Event: EventCreditReceived, ObjectKind: "manual_credit", ObjectID: row.ID,
		Subject: amountText(row.Currency, row.Amount), Note: row.Reason})
}

// amountText writes an amount for people: "30 分钟", "100 积分".
func amountText(cur model.Currency, amount int64) string {
	if cur == model.CurrencyMinutes {
		return fmt.Sprintf("%d 分钟", amount)
	}
	return fmt.Sprintf("%d 积分", amount)
}

// manualCreditView returns a manual credit as staff see it.
func (s *TimeBankService) manualCreditView(row *model.ManualCredit) ManualCreditView {
	return ManualCreditView{ID: row.ID, UserID: row.UserID, CommunityID: row.CommunityID, Currency: row.Currency,
		Amount: row.Amount, Reason: row.Reason, RequestID: row.RequestID, TxnID: row.TxnID, CreatedBy: row.ActorID,
		CreatedAt: row.CreatedAt.In(s.deps.Config.Location), Status: row.Status, DecidedBy: row.DecidedBy,
		DecidedAt: inLoc(row.DecidedAt, s.deps.Config.Location), RejectReason: row.RejectReason}
}

// sameManualCredit returns 30003 unless row records the same credit as in.
func sameManualCredit(row *model.ManualCredit, in ManualCreditInput, cur model.Currency, reason string) error {
	if row.UserID != in.UserID || row.Currency != cur || row.Amount != in.Amount || row.Reason != reason ||
		(in.CommunityID != 0 && row.CommunityID != in.CommunityID) {
		return Errorf(CodeRequestIDReused, "该请求号已用于另一笔补录，请换一个 requestId")
	}
	return nil
}

// Reconcile checks the whole ledger (see ledger.Reconcile) and compares
// every built leaderboard with it (CheckLeaderboards, without repairing),
// for `linli reconcile` and GET /admin/reconcile: a leaderboard that
// differs is a mismatch naming the org, set and user. It returns the
// database's error, or 10503 when Redis cannot be read.
func (s *TimeBankService) Reconcile(ctx context.Context) (*ledger.Report, error) {
	rep, err := s.ledger.Reconcile(ctx, s.deps.DB)
	if err != nil {
		return nil, err
	}
	drift, err := s.CheckLeaderboards(ctx, false)
	if err != nil {
		return nil, err
	}
	rep.Details = append(rep.Details, drift...)
	rep.Mismatches = len(rep.Details)
	return rep, nil
}

// ReconcileAsAdmin is Reconcile for an admin of a root org (or a bootstrap
// admin). It returns 10004 for anyone else.
func (s *TimeBankService) ReconcileAsAdmin(ctx context.Context, actorID int64) (*ledger.Report, error) {
	ok, err := s.authz.isRootAdmin(ctx, actorID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, forbidden("仅区级管理员可以对账")
	}
	return s.Reconcile(ctx)
}
