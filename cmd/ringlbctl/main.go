// Command ringlbctl shows and steers the load state of ringlb balancers that
// share a Redis server: who holds which destination, which are drained, and
// repairs of stuck holds. Run `ringlbctl help` for the commands.
//
// Balancers with the in-memory backend live inside one FreeSWITCH process;
// lua/ringlb_admin.lua is their counterpart, run through fs_cli.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
