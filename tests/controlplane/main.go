// controlplane runs a Kubernetes control plane on loopback for the tests:
// etcd, kube-apiserver, kube-scheduler and kube-controller-manager, built
// from the official sources.
//
//	controlplane up [--dir DIR] [--port N] [--exit-on-stdin-close]
//
// prints "ready URL KUBECONFIG" once the API server is ready, and stops
// everything on SIGINT, SIGTERM, or (with the flag) when stdin closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"workspaces.test/controlplane/plane"
)

func main() {
	if len(os.Args) > 1 {
		if _, ok := components[os.Args[1]]; ok {
			os.Exit(runComponent(os.Args[1], os.Args[2:]))
		}
		if os.Args[1] == "up" {
			if err := up(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "controlplane:", err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintln(os.Stderr, "usage: controlplane up [--dir DIR] [--port N] [--exit-on-stdin-close]")
	os.Exit(2)
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "certificates, kubeconfigs, logs and etcd's data (etcd's is wiped at start)")
	port := fs.Int("port", 0, "the API server's port on 127.0.0.1 (0: a free one)")
	stdinClose := fs.Bool("exit-on-stdin-close", false, "stop when stdin closes, as when the test process that started it dies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(*port, 3)
	if err != nil {
		return err
	}
	cfg := plane.Config{
		Dir:         absDir,
		EtcdURL:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		APIPort:     ports[0],
		ServiceCIDR: "10.0.0.0/24",
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", cfg.APIPort)
	// a fresh cluster every time: nothing from an earlier run
	for _, old := range []string{"etcd", plane.AuditLog, "logs"} {
		if err := os.RemoveAll(filepath.Join(absDir, old)); err != nil {
			return err
		}
	}
	if err := plane.WritePKI(absDir, apiURL); err != nil {
		return err
	}
	if err := plane.WriteAuditPolicy(cfg); err != nil {
		return err
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if *stdinClose {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	etcd, err := startEtcd(absDir, ports[1], ports[2])
	if err != nil {
		return err
	}
	defer etcd.Close()

	var started []*plane.Process
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].Stop(5 * time.Second)
		}
	}()
	apiserver, err := plane.Start(absDir, "kube-apiserver", plane.APIServerFlags(cfg))
	if err != nil {
		return err
	}
	started = append(started, apiserver)
	if err := plane.WaitReady(ctx, apiserver, absDir, apiURL+"/readyz", 180*time.Second); err != nil {
		return err
	}
	for name, flags := range map[string][]string{
		"kube-scheduler":          plane.SchedulerFlags(cfg),
		"kube-controller-manager": plane.ControllerManagerFlags(cfg),
	} {
		p, err := plane.Start(absDir, name, flags)
		if err != nil {
			return err
		}
		started = append(started, p)
	}
	kubeconfig := filepath.Join(absDir, "kubeconfig")
	if err := copyFile(filepath.Join(absDir, plane.AdminUser+".kubeconfig"), kubeconfig); err != nil {
		return err
	}
	fmt.Printf("ready %s %s\n", apiURL, kubeconfig)

	exited := make(chan *plane.Process, len(started))
	for _, p := range started {
		go func() {
			<-p.Exited()
			exited <- p
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "controlplane: stopping")
		return nil
	case p := <-exited:
		return p.Failure()
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	}
}

// freePorts: first (when not 0) and then free ones until there are n.
func freePorts(first, n int) ([]int, error) {
	var ports []int
	if first != 0 {
		ports = append(ports, first)
	}
	for len(ports) < n {
		p, err := plane.FreePort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}
