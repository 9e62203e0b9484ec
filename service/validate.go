package service

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules for what users type, shared by every area.
//
// Phone numbers: a mainland mobile number is 11 digits, 1[3-9] then nine
// more (validMobile). Where a landline is a fair way to be reached (the
// contact phone of a wish and of the resident a wish is posted for, a unit's
// contact phone, a member's phone in 双报到) validPhone also takes a
// landline with its area code. A volunteer's phone must be a mobile.
//
// Text: lengths count characters (runes), not bytes, after trimming. Every
// display text goes through textFits (or textField), which also refuses what
// would let a text hide or disguise itself (cleanText): control characters
// other than tab and line breaks, format characters (bidi overrides and
// isolates, zero-width spaces and joiners, the byte-order mark), line and
// paragraph separators and invalid UTF-8. A zero-width joiner inside an
// emoji sequence (👨‍👩‍👧) is the one format character kept.

// validMobile reports whether s is a mainland mobile number: 1[3-9] and nine
// more digits.
func validMobile(s string) bool {
	return len(s) == 11 && s[0] == '1' && s[1] >= '3' && allDigits(s)
}

// validPhone reports whether p is a mainland mobile number or a landline
// with its area code: 0 and 2 or 3 more digits, then 7 or 8 digits, with or
// without a "-" between them (010-12345678, 075512345678).
func validPhone(p string) bool {
	if validMobile(p) {
		return true
	}
	if len(p) < 10 || p[0] != '0' {
		return false
	}
	if area, local, ok := strings.Cut(p, "-"); ok {
		return len(area) >= 3 && len(area) <= 4 && allDigits(area) && len(local) >= 7 && len(local) <= 8 && allDigits(local)
	}
	return len(p) <= 12 && allDigits(p)
}

// allDigits reports whether s is non-empty and only ASCII digits.
func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// textFits reports whether s has between min and max characters and is
// clean text (cleanText).
func textFits(s string, min, max int) bool {
	n := utf8.RuneCountInString(s)
	return n >= min && n <= max && cleanText(s)
}

// zeroWidthJoiner is U+200D, which joins emoji into one picture.
const zeroWidthJoiner = '\u200d'

// cleanText reports whether s is valid UTF-8 without control characters
// (tab, line feed and carriage return aside), format characters (Unicode
// category Cf: U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF, …) or
// line and paragraph separators. A zero-width joiner is allowed between an
// emoji (or its modifier or variation selector) and another emoji.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	prev := rune(-1)
	for i, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r == zeroWidthJoiner:
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			if prev < 0 || !unicode.In(prev, unicode.So, unicode.Sk, unicode.Mn) || !unicode.Is(unicode.So, next) {
				return false
			}
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return false
		}
		prev = r
	}
	return true
}

// textField trims s and checks it has between min and max characters. It
// returns the trimmed text, or 10001 naming the field.
func textField(s string, min, max int, name string) (string, error) {
	s = strings.TrimSpace(s)
	if !cleanText(s) {
		return "", invalid("%s不能包含控制字符或不可见的格式字符", name)
	}
	if !textFits(s, min, max) {
		if min > 0 {
			return "", invalid("%s需为 %d 到 %d 个字符", name, min, max)
		}
		return "", invalid("%s不能超过 %d 个字符", name, max)
	}
	return s, nil
}
