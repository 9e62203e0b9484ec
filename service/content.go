package service

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"linli/model"
)

// Verdict is what a content check says about a text.
type Verdict string

// Verdicts of a content check.
const (
	VerdictPass   Verdict = "pass"   // publishable after the usual review
	VerdictReview Verdict = "review" // stored, flagged for staff
	VerdictRisky  Verdict = "risky"  // refused, nothing stored
)

// ContentChecker checks user text before it is stored. main picks WeChat's
// msgSecCheck when WeChat is configured and a local word list otherwise.
type ContentChecker interface {
	// Check returns the verdict on title and content written by the user
	// with openID. An error means no verdict could be had (the checker is
	// unreachable); callers fall back to staff review.
	Check(ctx context.Context, openID, title, content string) (Verdict, error)
}

// WeChatContentChecker checks text with WeChat's msgSecCheck v2 (scene 2,
// the writer's openid).
type WeChatContentChecker struct {
	WeChat WeChat
}

// Check implements ContentChecker. Title and content are sent together as
// the content (so both are checked) and the title also as the title.
func (c WeChatContentChecker) Check(ctx context.Context, openID, title, content string) (Verdict, error) {
	s, err := c.WeChat.MsgSecCheck(ctx, openID, title, title+"\n"+content)
	if err != nil {
		return "", err
	}
	switch v := Verdict(s); v {
	case VerdictPass, VerdictReview, VerdictRisky:
		return v, nil
	}
	return "", fmt.Errorf("content check: unknown suggestion %q", s)
}

//go:embed contentwords.txt
var builtinWords string

// WordListChecker refuses text containing a listed word and flags text
// containing a review word. Matching ignores case, white space and
// punctuation, so "赌 博" and "赌-博" match "赌博".
type WordListChecker struct {
	risky  []string
	review []string
}

// BuiltinWordList returns the checker over the word list shipped with linli.
func BuiltinWordList() *WordListChecker {
	c, _ := parseWordList(strings.NewReader(builtinWords))
	return c
}

// LoadWordList reads a word list file: one word per line, "#" starts a
// comment line, a leading "~" marks a review word. An empty path returns
// the built-in list.
func LoadWordList(path string) (*WordListChecker, error) {
	if path == "" {
		return BuiltinWordList(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("content.words_file: %w", err)
	}
	defer f.Close()
	c, err := parseWordList(f)
	if err != nil {
		return nil, fmt.Errorf("content.words_file %s: %w", path, err)
	}
	return c, nil
}

func parseWordList(r io.Reader) (*WordListChecker, error) {
	c := &WordListChecker{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		review := strings.HasPrefix(line, "~")
		w := normalizeText(strings.TrimPrefix(line, "~"))
		switch {
		case w == "":
		case review:
			c.review = append(c.review, w)
		default:
			c.risky = append(c.risky, w)
		}
	}
	return c, sc.Err()
}

// Check implements ContentChecker; it never fails.
func (c *WordListChecker) Check(_ context.Context, _, title, content string) (Verdict, error) {
	text := normalizeText(title + "\n" + content)
	for _, w := range c.risky {
		if strings.Contains(text, w) {
			return VerdictRisky, nil
		}
	}
	for _, w := range c.review {
		if strings.Contains(text, w) {
			return VerdictReview, nil
		}
	}
	return VerdictPass, nil
}

// normalizeText lower-cases s and drops spaces, punctuation and symbols.
func normalizeText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ContentService turns a ContentChecker's verdict into what the areas that
// take user text store.
type ContentService struct {
	checker ContentChecker
	logger  *slog.Logger
}

// check runs the configured checker. It returns 10008 for risky text, and
// otherwise the review flag to store: "" for a pass, content_review for
// "review", check_unavailable when the checker failed (logged; posting goes
// on and staff look at it).
func (s *ContentService) check(ctx context.Context, openID, title, content string) (string, error) {
	v, err := s.checker.Check(ctx, openID, title, content)
	if err != nil {
		s.logger.Warn("content check unavailable; the text is stored flagged for staff review", "error", err.Error())
		return model.WishFlagCheckUnavailable, nil
	}
	switch v {
	case VerdictRisky:
		return "", Errorf(CodeContentRefused, "内容含有违规信息，请修改后再提交")
	case VerdictReview:
		return model.WishFlagContentReview, nil
	}
	return "", nil
}

// defaultContentChecker is WeChat's check when WeChat is configured, else the
// configured word list; a list that cannot be read (main refuses to start
// then) falls back to the built-in one.
func defaultContentChecker(d Deps) ContentChecker {
	if d.WeChat != nil {
		return WeChatContentChecker{WeChat: d.WeChat}
	}
	c, err := LoadWordList(d.Config.Content.WordsFile)
	if err != nil {
		d.Logger.Error("word list unreadable; using the built-in list", "error", err.Error())
		return BuiltinWordList()
	}
	return c
}
