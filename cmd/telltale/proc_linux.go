package main

import "syscall"

// childProcAttr makes the kernel stop a fleet member when the demo dies
// without cleaning up (kill -9), so that no service is left running.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
