package plane

import (
	"slices"
	"strings"
	"testing"
)

func testConfig() Config {
	return Config{Dir: "/cp", EtcdURL: "http://127.0.0.1:2379", APIPort: 6443, ServiceCIDR: "10.0.0.0/24"}
}

func TestTheAPIServerEnforcesRBACPodSecurityAndQuota(t *testing.T) {
	flags := APIServerFlags(testConfig())
	if !slices.Contains(flags, "--authorization-mode=RBAC") {
		t.Errorf("no RBAC in %v", flags)
	}
	var plugins string
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "--enable-admission-plugins="); ok {
			plugins = v
		}
	}
	for _, want := range []string{"PodSecurity", "ResourceQuota", "LimitRanger", "DefaultStorageClass"} {
		if !slices.Contains(strings.Split(plugins, ","), want) {
			t.Errorf("admission plugin %s missing from %q", want, plugins)
		}
	}
}

func TestTheAPIServerListensOnLoopbackOnly(t *testing.T) {
	flags := APIServerFlags(testConfig())
	for _, want := range []string{"--bind-address=127.0.0.1", "--secure-port=6443"} {
		if !slices.Contains(flags, want) {
			t.Errorf("%s missing from %v", want, flags)
		}
	}
}

func TestTokenRequestsCanBeSigned(t *testing.T) {
	flags := APIServerFlags(testConfig())
	for _, want := range []string{"--service-account-signing-key-file=/cp/service-account.key", "--service-account-key-file=/cp/service-account.pub"} {
		if !slices.Contains(flags, want) {
			t.Errorf("%s missing from %v", want, flags)
		}
	}
}

func TestEachControllerActsWithItsOwnServiceAccount(t *testing.T) {
	flags := ControllerManagerFlags(testConfig())
	if !slices.Contains(flags, "--use-service-account-credentials=true") {
		t.Errorf("controllers share one identity: %v", flags)
	}
}

func TestAnIncompleteConfigIsRefusedWithEveryProblem(t *testing.T) {
	err := Config{EtcdURL: "127.0.0.1:2379"}.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"no directory", "not http://", "port 0", "no service CIDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("a complete config refused: %v", err)
	}
}
