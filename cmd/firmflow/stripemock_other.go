//go:build !linux

package main

import "syscall"

// childProcessAttr puts a child in its own process group; only Linux can also have
// it killed when this process dies.
func childProcessAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
