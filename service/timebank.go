package service

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"linli/internal/ledger"
)

// Domain codes of the time bank and the mall (3xxxx).
const (
	CodeInsufficientBalance = 30001
)

// TimeBankService keeps minutes and points. Other areas pay through Credit
// (and Debit, Transfer, Reverse) inside their own transaction.
type TimeBankService struct {
	deps   Deps
	authz  *Authz
	ledger *ledger.Ledger
}

// Credit issues minutes or points from a community to a user inside tx, once
// per source: a replay returns the first receipt (Replayed set) and writes
// nothing. It returns 10001 for a non-positive amount.
func (s *TimeBankService) Credit(ctx context.Context, tx *gorm.DB, c ledger.Credit) (*ledger.Receipt, error) {
	rec, err := s.ledger.Credit(ctx, tx, c)
	return rec, ledgerError(err)
}

// Debit moves minutes or points from a user to a community inside tx, once
// per source. It returns 30001 when the balance is short and 10001 for a
// non-positive amount.
func (s *TimeBankService) Debit(ctx context.Context, tx *gorm.DB, d ledger.Debit) (*ledger.Receipt, error) {
	rec, err := s.ledger.Debit(ctx, tx, d)
	return rec, ledgerError(err)
}

// Reverse undoes ledger transaction txnID under source src, once. It returns
// 30001 when a user no longer holds what is taken back, 10006 when another
// source already reversed it and 10005 for an unknown transaction.
func (s *TimeBankService) Reverse(ctx context.Context, tx *gorm.DB, txnID int64, src ledger.Source, memo string) (*ledger.Receipt, error) {
	rec, err := s.ledger.Reverse(ctx, tx, txnID, src, memo)
	return rec, ledgerError(err)
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
