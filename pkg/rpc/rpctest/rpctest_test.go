package rpctest

import "testing"

func TestCreateVerbsEndWhereAWordEnds(t *testing.T) {
	for name, want := range map[string]bool{
		"CreateClient":         true,
		"ImportClients":        true,
		"RotateApiKey":         true,
		"RequestSupportAccess": true,
		"AcceptInvitation":     true,
		"SignUp":               true,
		"Creates":              false,
		"Requeue":              false,
		"UpdateClient":         false,
		"RunSeries":            false,
		"ApproveSupportGrant":  false,
	} {
		if got := isCreate(name); got != want {
			t.Errorf("isCreate(%q) = %v, want %v", name, got, want)
		}
	}
}
