package main

import (
	"fmt"
	"os"
)

func unitMain(args []string) int {
	fmt.Fprintln(os.Stderr, "vinit: unit: not built yet")
	return 2
}
