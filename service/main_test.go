package service_test

import (
	"testing"

	"linli/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
