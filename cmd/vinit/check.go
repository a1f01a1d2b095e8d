package main

import (
	"fmt"
	"os"
)

func checkMain(args []string) int {
	fmt.Fprintln(os.Stderr, "vinit: check: not built yet")
	return 2
}
