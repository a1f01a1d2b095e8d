package main

import (
	"fmt"
	"os"
)

func ctlMain(args []string) int {
	fmt.Fprintln(os.Stderr, "vinit: ctl: not built yet")
	return 2
}
