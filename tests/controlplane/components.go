package main

import (
	"github.com/spf13/cobra"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// components are the official commands, linked into this one binary the way
// hyperkube once did. Each runs in a process of its own (the supervisor starts
// this binary again with the component's name), so their global flag sets and
// metric registries never meet.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
}

// runComponent runs one official command with the given arguments and returns
// its exit code.
func runComponent(name string, args []string) int {
	cmd := components[name]()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}
