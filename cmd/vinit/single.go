package main

import (
	"fmt"
	"os"
)

func singleMain(flags, argv []string) int {
	fmt.Fprintln(os.Stderr, "vinit: single: not built yet")
	return 2
}
