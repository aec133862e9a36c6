package main

import "syscall"

// childProcessAttr puts a child in its own process group and has the kernel kill it
// when this process dies, however it dies.
func childProcessAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
