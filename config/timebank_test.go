package config

import (
	"slices"
	"strings"
	"testing"
)

func TestTimeBankKeys(t *testing.T) {
	base := map[string]any{"dev": true}
	c, err := LoadFromEnviron("", nil, base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TimeBank.StarMinutes, []int64{6000, 18000, 36000, 60000, 90000}) ||
		c.TimeBank.LeaderboardSize != 50 || c.Mall.OrderTTL.Hours() != 168 || c.Mall.SweepInterval.Minutes() != 1 {
		t.Fatalf("defaults %+v %+v", c.TimeBank, c.Mall)
	}
	c, err = LoadFromEnviron("", []string{"LINLI_TIMEBANK_STAR_HOURS= 10, 20 ", "LINLI_MALL_SWEEP_INTERVAL=0s",
		"LINLI_TIMEBANK_GIFT_DAILY_LIMIT_POINTS=0"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TimeBank.StarMinutes, []int64{600, 1200}) || c.Mall.SweepInterval != 0 || c.TimeBank.GiftDailyLimitPoints != 0 {
		t.Fatalf("from env %+v %+v", c.TimeBank, c.Mall)
	}
	for env, key := range map[string]string{
		"LINLI_TIMEBANK_STAR_HOURS=100,100":          "timebank.star_hours",
		"LINLI_TIMEBANK_STAR_HOURS=300,100":          "timebank.star_hours",
		"LINLI_TIMEBANK_STAR_HOURS=abc":              "timebank.star_hours",
		"LINLI_TIMEBANK_STAR_HOURS=":                 "timebank.star_hours",
		"LINLI_TIMEBANK_GIFT_DAILY_LIMIT_MINUTES=-1": "timebank.gift_daily_limit_minutes",
		"LINLI_TIMEBANK_LEADERBOARD_SIZE=0":          "timebank.leaderboard_size",
		"LINLI_MALL_ORDER_TTL=10s":                   "mall.order_ttl",
		"LINLI_MALL_SWEEP_INTERVAL=-1m":              "mall.sweep_interval",
	} {
		_, err := LoadFromEnviron("", []string{env}, base)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v should name %s", env, err, key)
		}
	}
}
