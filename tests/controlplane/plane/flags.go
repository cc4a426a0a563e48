// Package plane starts a Kubernetes control plane on loopback for tests:
// embedded etcd, then kube-apiserver, kube-scheduler and
// kube-controller-manager, each the official command in a process of its own.
package plane

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config is what the flags of every component follow from.
type Config struct {
	Dir         string // certificates, kubeconfigs and etcd's data
	EtcdURL     string // where etcd serves its clients
	APIPort     int    // kube-apiserver's secure port on 127.0.0.1
	ServiceCIDR string
}

// The admission plugins the tests rely on, named so that a release that
// changes the defaults cannot quietly turn one off.
var admissionPlugins = []string{
	"NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultStorageClass",
	"StorageObjectInUseProtection", "Priority", "TaintNodesByCondition",
	"PodSecurity", "ResourceQuota",
}

func (c Config) path(name string) string { return filepath.Join(c.Dir, name) }

// Validate rejects a configuration no component could start with.
func (c Config) Validate() error {
	var problems []string
	if c.Dir == "" {
		problems = append(problems, "no directory")
	}
	if !strings.HasPrefix(c.EtcdURL, "http://") {
		problems = append(problems, fmt.Sprintf("etcd URL %q is not http://", c.EtcdURL))
	}
	if c.APIPort <= 0 || c.APIPort > 65535 {
		problems = append(problems, fmt.Sprintf("API port %d out of range", c.APIPort))
	}
	if c.ServiceCIDR == "" {
		problems = append(problems, "no service CIDR")
	}
	if len(problems) > 0 {
		return fmt.Errorf("control plane: %s", strings.Join(problems, "; "))
	}
	return nil
}

// APIServerFlags: RBAC, the admission plugins above, and the service-account
// keys the TokenRequest API needs.
func APIServerFlags(c Config) []string {
	return []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// nothing reaches the API server through the kubernetes Service here,
		// and its endpoints may not be a loopback address
		"--endpoint-reconciler-type=none",
		fmt.Sprintf("--secure-port=%d", c.APIPort),
		"--tls-cert-file=" + c.path(APIServerCert+".crt"),
		"--tls-private-key-file=" + c.path(APIServerCert+".key"),
		"--client-ca-file=" + c.path(CA+".crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.path(ServiceAccountKey+".pub"),
		"--service-account-signing-key-file=" + c.path(ServiceAccountKey+".key"),
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--authorization-mode=RBAC",
		"--enable-admission-plugins=" + strings.Join(admissionPlugins, ","),
		"--allow-privileged=true",
		"--profiling=false",
		"--cert-dir=" + c.path("apiserver-certs"),
		// every request the tests make, with its user, so a test can check
		// what the product asked for; written before the answer is sent
		"--audit-policy-file=" + c.path(AuditPolicy),
		"--audit-log-path=" + c.path(AuditLog),
		"--audit-log-mode=blocking",
		"--audit-log-format=json",
		"--v=0",
	}
}

// AuditPolicy and AuditLog are files in the directory.
const (
	AuditPolicy = "audit-policy.yaml"
	AuditLog    = "audit.log"
)

// auditPolicy logs the metadata of every request, except the control
// plane's own chatter (its components and the kube-system controllers).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-scheduler", "system:kube-controller-manager", "system:apiserver"]
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
`

// WriteAuditPolicy puts the audit policy where APIServerFlags points.
func WriteAuditPolicy(c Config) error {
	return os.WriteFile(c.path(AuditPolicy), []byte(auditPolicy), 0o644)
}

// componentFlags are the scheduler's and the controller manager's alike:
// their identity, no leader election (there is one of each), no serving port.
func componentFlags(c Config, user string) []string {
	kubeconfig := c.path(user + ".kubeconfig")
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--v=0",
	}
}

// SchedulerFlags: the common ones only.
func SchedulerFlags(c Config) []string {
	return componentFlags(c, SchedulerUser)
}

// ControllerManagerFlags: every default controller, each with its own
// service account as on a real cluster, so RBAC applies to them too.
func ControllerManagerFlags(c Config) []string {
	return append(componentFlags(c, ControllerManagerUser),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.path(ServiceAccountKey+".key"),
		"--root-ca-file="+c.path(CA+".crt"),
		"--service-cluster-ip-range="+c.ServiceCIDR,
		"--controllers=*",
		// seconds, not minutes, between a pod or claim's deletion and the next look
		"--concurrent-gc-syncs=5",
	)
}
