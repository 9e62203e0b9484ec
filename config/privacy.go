package config

import "time"

// PrivacyConfig holds the personal-information rules (PIPL): the privacy
// policy a user must accept and how long personal details outlive the
// purpose they were given for.
type PrivacyConfig struct {
	// PolicyVersion is the current privacy-policy version; a user who has
	// not accepted it (POST /me/consent) is asked to (GET /me
	// consentRequired). Empty: no consent is asked.
	PolicyVersion string `koanf:"policy_version"`
	// WishContactRetention is how long after a wish closes its contact
	// phone and address are kept before the retention sweep blanks them.
	WishContactRetention time.Duration `koanf:"wish_contact_retention"`
	// SweepInterval is how often serve runs the retention sweep; zero
	// disables.
	SweepInterval time.Duration `koanf:"sweep_interval"`
}

// privacyDefaults are the privacy keys with their defaults.
func privacyDefaults() map[string]any {
	return map[string]any{
		"privacy.policy_version":         "",
		"privacy.wish_contact_retention": "4320h", // 180 days
		"privacy.sweep_interval":         "1h",
	}
}

// validatePrivacy checks the privacy keys.
func (c *Config) validatePrivacy(bad func(key, why string) error) error {
	if len(c.Privacy.PolicyVersion) > 32 {
		return bad("privacy.policy_version", "must be at most 32 characters")
	}
	if c.Privacy.WishContactRetention <= 0 {
		return bad("privacy.wish_contact_retention", "must be positive")
	}
	if c.Privacy.SweepInterval < 0 {
		return bad("privacy.sweep_interval", "must not be negative (0 disables the sweep)")
	}
	return nil
}
