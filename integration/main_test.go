package integration

import (
	"testing"

	"github.com/pgveil/pgveil/integration/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
