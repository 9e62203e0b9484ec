package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"linli/config"
)

const goodSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := config.LoadFromEnviron("", nil, map[string]any{"dev": true})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":8080" || c.Data.Dir != "./data" || c.Database.Driver != "sqlite" || c.Redis.Addr != "" ||
		c.RateLimit.LoginPerMinute != 30 || c.RateLimit.WritePerMinute != 120 || c.Timezone != "Asia/Shanghai" ||
		c.JWT.AccessTTL != 2*time.Hour || c.JWT.RefreshTTL != 30*24*time.Hour || c.HTTP.MaxBodyBytes != 1<<20 {
		t.Fatalf("defaults = %+v", c)
	}
	if c.Location == nil || c.Location.String() != "Asia/Shanghai" {
		t.Fatalf("location = %v", c.Location)
	}
}

func TestEnvOverridesFileOverridesDefaults(t *testing.T) {
	path := writeFile(t, `
http:
  addr: ":9000"
ratelimit:
  login_per_minute: 10
jwt:
  secret: "`+goodSecret+`"
  access_ttl: 1h
report:
  verify_base_url: "https://linli.example.gov.cn/api/v1/certificates/verify"
bootstrap:
  admins: [oa, ob]
`)
	env := []string{
		"LINLI_RATELIMIT_LOGIN_PER_MINUTE=20",
		"LINLI_JWT_ACCESS_TTL=90m",
		"LINLI_REDIS_ADDR=10.0.0.1:6379, 10.0.0.2:6379",
		"LINLI_UNRELATED=1",
		"HOME=/root",
	}
	c, err := config.LoadFromEnviron(path, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":9000" { // file over default
		t.Errorf("http.addr = %q", c.HTTP.Addr)
	}
	if c.RateLimit.LoginPerMinute != 20 || c.JWT.AccessTTL != 90*time.Minute { // env over file
		t.Errorf("login = %d, access ttl = %s", c.RateLimit.LoginPerMinute, c.JWT.AccessTTL)
	}
	if c.RateLimit.WritePerMinute != 120 { // default kept
		t.Errorf("write = %d", c.RateLimit.WritePerMinute)
	}
	if got := c.Bootstrap.AdminOpenIDs(); len(got) != 2 || got[0] != "oa" || got[1] != "ob" {
		t.Errorf("admins from a YAML list = %v", got)
	}
	if c.Redis.Addr != "10.0.0.1:6379, 10.0.0.2:6379" || c.Dev {
		t.Errorf("redis.addr = %q, dev = %v", c.Redis.Addr, c.Dev)
	}
	// Overrides (the --dev flag) come last.
	c, err = config.LoadFromEnviron(path, append(env, "LINLI_DEV=false"), map[string]any{"dev": true})
	if err != nil || !c.Dev {
		t.Fatalf("override: %v %v", c, err)
	}
	// Comma-separated admins from the environment.
	c, err = config.LoadFromEnviron(path, []string{"LINLI_BOOTSTRAP_ADMINS= a1 ,, a2 "}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Bootstrap.AdminOpenIDs(); len(got) != 2 || got[0] != "a1" || got[1] != "a2" {
		t.Errorf("admins from env = %v", got)
	}
}

func TestEnvNamesOfAPIContract(t *testing.T) {
	for key, env := range map[string]string{
		"http.addr":                  "LINLI_HTTP_ADDR",
		"dev":                        "LINLI_DEV",
		"data.dir":                   "LINLI_DATA_DIR",
		"database.driver":            "LINLI_DATABASE_DRIVER",
		"database.dsn":               "LINLI_DATABASE_DSN",
		"redis.addr":                 "LINLI_REDIS_ADDR",
		"bootstrap.admins":           "LINLI_BOOTSTRAP_ADMINS",
		"jwt.secret":                 "LINLI_JWT_SECRET",
		"wechat.appid":               "LINLI_WECHAT_APPID",
		"wechat.secret":              "LINLI_WECHAT_SECRET",
		"ratelimit.login_per_minute": "LINLI_RATELIMIT_LOGIN_PER_MINUTE",
		"ratelimit.write_per_minute": "LINLI_RATELIMIT_WRITE_PER_MINUTE",
		"timezone":                   "LINLI_TIMEZONE",
	} {
		if got := config.EnvName(key); got != env {
			t.Errorf("EnvName(%s) = %s, want %s", key, got, env)
		}
		found := false
		for _, k := range config.Keys() {
			found = found || k == key
		}
		if !found {
			t.Errorf("%s is not a key", key)
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"LINLI_RATELIMIT_LOGIN_PER_MINUTE=abc", []string{"ratelimit.login_per_minute", "LINLI_RATELIMIT_LOGIN_PER_MINUTE", "integer"}},
		{"LINLI_RATELIMIT_WRITE_PER_MINUTE=-1", []string{"ratelimit.write_per_minute", "negative"}},
		{"LINLI_JWT_ACCESS_TTL=soon", []string{"jwt.access_ttl", "LINLI_JWT_ACCESS_TTL", "duration"}},
		{"LINLI_JWT_ACCESS_TTL=10s", []string{"jwt.access_ttl", "at least"}},
		{"LINLI_DEV=maybe", []string{"dev", "LINLI_DEV", "true or false"}},
		{"LINLI_TIMEZONE=Mars/Olympus", []string{"timezone", "LINLI_TIMEZONE", "Mars/Olympus"}},
		{"LINLI_DATABASE_DRIVER=postgres", []string{"database.driver", "sqlite or mysql"}},
		{"LINLI_DATABASE_DRIVER=mysql", []string{"database.dsn", "LINLI_DATABASE_DSN", "required"}},
		{"LINLI_DATABASE_MAX_OPEN_CONNS=0", []string{"database.max_open_conns"}},
		{"LINLI_REDIS_POOL_SIZE=0", []string{"redis.pool_size"}},
		{"LINLI_REDIS_DIAL_TIMEOUT=0s", []string{"redis.dial_timeout", "positive"}},
		{"LINLI_HTTP_MAX_BODY_BYTES=10", []string{"http.max_body_bytes"}},
		{"LINLI_HTTP_ADDR=", []string{"http.addr", "empty"}},
		{"LINLI_WECHAT_APPID=wx123", []string{"wechat.secret", "together"}},
		{"LINLI_LOG_LEVEL=loud", []string{"log.level", "LINLI_LOG_LEVEL"}},
		{"LINLI_REPORT_VERIFY_BASE_URL=ftp://x", []string{"report.verify_base_url", "http(s)"}},
		{"LINLI_REPORT_UNIT_CLAIM_SCOPE=district", []string{"report.unit_claim_scope", "community or street"}},
		{"LINLI_USER_HOME_CHANGE_MIN_INTERVAL=-1h", []string{"user.home_change_min_interval", "negative"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, err := config.LoadFromEnviron("", []string{tc.env, "LINLI_DEV=true"}, nil)
			if tc.env == "LINLI_DEV=maybe" {
				_, err = config.LoadFromEnviron("", []string{tc.env}, nil)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// An unknown key in the file is named, not ignored.
	path := writeFile(t, "http:\n  adr: \":1\"\n")
	if _, err := config.LoadFromEnviron(path, []string{"LINLI_DEV=true"}, nil); err == nil || !strings.Contains(err.Error(), "http.adr") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := config.LoadFromEnviron(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil {
		t.Fatal("a missing file given explicitly was accepted")
	}
}

func TestJWTSecretRequiredOutsideDev(t *testing.T) {
	_, err := config.LoadFromEnviron("", nil, nil)
	if err == nil {
		t.Fatal("started without a JWT secret")
	}
	for _, w := range []string{"jwt.secret", "LINLI_JWT_SECRET", "required outside dev mode", "--dev"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	_, err = config.LoadFromEnviron("", []string{"LINLI_JWT_SECRET=short-secret"}, nil)
	if err == nil {
		t.Fatal("started with a short JWT secret")
	}
	for _, w := range []string{"jwt.secret", "at least 32 bytes", "got 12"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if _, err := config.LoadFromEnviron("", []string{"LINLI_JWT_SECRET=" + goodSecret, "LINLI_REPORT_VERIFY_BASE_URL=https://x.example/v"}, nil); err != nil {
		t.Fatalf("a 32-byte secret was refused: %v", err)
	}
	if _, err := config.LoadFromEnviron("", []string{"LINLI_DEV=true"}, nil); err != nil {
		t.Fatalf("dev mode needs no secret: %v", err)
	}
}

// TestEveryKeyDocumented: config.example.yaml holds exactly the keys of
// config.Keys() and loads; the table of docs/configuration.md names each key
// and its environment variable.
func TestEveryKeyDocumented(t *testing.T) {
	k := koanf.New(".")
	if err := k.Load(file.Provider("../config.example.yaml"), yaml.Parser()); err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	inExample := map[string]bool{}
	for _, key := range k.Keys() {
		inExample[key] = true
	}
	table, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range config.Keys() {
		if !inExample[key] {
			t.Errorf("config.example.yaml lacks %s", key)
		}
		row := "| `" + key + "` | `" + config.EnvName(key) + "` |"
		if !strings.Contains(string(table), row) {
			t.Errorf("docs/configuration.md lacks the row starting %s", row)
		}
		delete(inExample, key)
	}
	for key := range inExample {
		t.Errorf("config.example.yaml has %s, which is not a key", key)
	}
	if _, err := config.LoadFromEnviron("../config.example.yaml", []string{"LINLI_DEV=true"}, nil); err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
}

// TestVerifyBaseURLRequiredOutsideDev: the certificates' verify address never
// comes from a request, so outside dev mode start refuses without
// report.verify_base_url, naming the key and its variable; dev mode uses
// this server's local address from http.addr.
func TestVerifyBaseURLRequiredOutsideDev(t *testing.T) {
	_, err := config.LoadFromEnviron("", []string{"LINLI_JWT_SECRET=" + goodSecret}, nil)
	if err == nil {
		t.Fatal("started without report.verify_base_url outside dev mode")
	}
	for _, w := range []string{"report.verify_base_url", "LINLI_REPORT_VERIFY_BASE_URL", "required outside dev mode"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	c, err := config.LoadFromEnviron("", []string{"LINLI_JWT_SECRET=" + goodSecret,
		"LINLI_REPORT_VERIFY_BASE_URL=https://linli.example.gov.cn/api/v1/certificates/verify"}, nil)
	if err != nil || c.Report.VerifyBaseURL != "https://linli.example.gov.cn/api/v1/certificates/verify" {
		t.Fatalf("configured: %v %v", c, err)
	}
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/api/v1/certificates/verify",
		"127.0.0.1:9001": "http://127.0.0.1:9001/api/v1/certificates/verify",
		"[::]:7000":      "http://127.0.0.1:7000/api/v1/certificates/verify",
	} {
		c, err := config.LoadFromEnviron("", []string{"LINLI_DEV=true", "LINLI_HTTP_ADDR=" + addr}, nil)
		if err != nil || c.Report.VerifyBaseURL != want {
			t.Errorf("dev with http.addr %s: %q %v, want %s", addr, c.Report.VerifyBaseURL, err, want)
		}
	}
}

// TestReplicasNeedMySQL refuses database.replicas on the embedded store and
// reads a comma-separated list (env) or a YAML list (file) on MySQL.
func TestReplicasNeedMySQL(t *testing.T) {
	_, err := config.LoadFromEnviron("", []string{"LINLI_DEV=true", "LINLI_DATABASE_REPLICAS=u:p@tcp(r1:3306)/linli"}, nil)
	if err == nil || !strings.Contains(err.Error(), "database.replicas") || !strings.Contains(err.Error(), "LINLI_DATABASE_REPLICAS") || !strings.Contains(err.Error(), "sqlite") {
		t.Fatalf("replicas on sqlite: %v", err)
	}
	mysql := []string{"LINLI_DEV=true", "LINLI_DATABASE_DRIVER=mysql", "LINLI_DATABASE_DSN=u:p@tcp(db:3306)/linli"}
	c, err := config.LoadFromEnviron("", append(mysql, "LINLI_DATABASE_REPLICAS=u:p@tcp(r1:3306)/linli, u:p@tcp(r2:3306)/linli"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Database.ReplicaDSNs(); len(got) != 2 || got[1] != "u:p@tcp(r2:3306)/linli" {
		t.Fatalf("replicas from env: %q", got)
	}
	path := writeFile(t, "database:\n  replicas:\n    - u:p@tcp(r1:3306)/linli\n    - u:p@tcp(r2:3306)/linli\n")
	if c, err = config.LoadFromEnviron(path, mysql, nil); err != nil || len(c.Database.ReplicaDSNs()) != 2 {
		t.Fatalf("replicas from a YAML list: %v %v", err, c)
	}
	if c, err := config.LoadFromEnviron("", mysql, nil); err != nil || len(c.Database.ReplicaDSNs()) != 0 {
		t.Fatalf("default: %v", err)
	}
}
